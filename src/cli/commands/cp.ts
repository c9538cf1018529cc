import type { Command } from "commander";
import { UserError } from "../../errors.js";
import { copyIn, copyOut } from "../../sdk/copy.js";
import { Machine } from "../../vm/machine.js";
import { makeContext } from "../context.js";

const guestRef = (s: string) => /^([A-Za-z0-9][A-Za-z0-9._-]*):(\/.*)$/.exec(s);

export function registerCp(program: Command): void {
  program
    .command("cp")
    .description(
      "copy files or directories between the host and a VM (VM side as vm:/path); modes are kept",
    )
    .argument("<src>", "host path or vm:/path")
    .argument("<dst>", "host path or vm:/path")
    .action(async (src: string, dst: string) => {
      const ctx = makeContext(false);
      const [from, to] = [guestRef(src), guestRef(dst)];
      if (!!from === !!to) {
        throw new UserError(
          "BAD_COPY",
          "Exactly one side of `plinth cp` must be a VM path (vm:/absolute/path).",
          {
            hint: "Example: plinth cp ./data myvm:/workspace/data",
          },
        );
      }
      const vm = await Machine.attach((from ?? to)![1]!);
      const client = await vm.agent();
      const n = from
        ? await copyOut(client.files, from[2]!, dst)
        : await copyIn(client.files, src, to![2]!);
      await client.close();
      ctx.result([`copied ${n} file(s)`], { files: n });
    });
}
