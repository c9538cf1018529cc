import type { Command } from "commander";
import { UserError } from "../../errors.js";
import { Sandbox } from "../../sdk/index.js";
import { plural } from "../../util/plural.js";
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
    .option("--json", "print {name, direction, from, to, files, bytes}")
    .action(async (src: string, dst: string, opts: { json?: boolean }) => {
      const ctx = makeContext(!!opts.json);
      const [from, to] = [guestRef(src), guestRef(dst)];
      if (!!from === !!to) {
        throw new UserError(
          "BAD_COPY",
          "Exactly one side of `plinth cp` must be a VM path (vm:/absolute/path).",
          { hint: "Example: plinth cp ./data myvm:/workspace/data" },
        );
      }
      const name = (from ?? to)![1]!;
      const sb = await Sandbox.connect(name);
      const r = await (
        from ? sb.files.download(from[2]!, dst) : sb.files.upload(src, to![2]!)
      ).finally(() => sb.close());
      ctx.result([`copied ${plural(r.files, "file")}, ${plural(r.bytes, "byte")}`], {
        name,
        direction: from ? "out" : "in",
        from: from ? from[2] : src,
        to: from ? dst : to![2],
        ...r,
      });
    });
}
