import type { Command } from "commander";
import { removeImages } from "../../store/manage.js";
import { makeContext } from "../context.js";
import { formatBytes, slotLabel, vmUsers } from "./images.js";

export function registerRm(program: Command): void {
  program
    .command("rm")
    .description("remove images from the local store (refused while a VM uses one)")
    .argument("<image...>", "name[:version] of images in the store, as `plinth images` lists them")
    .option("--all-versions", "remove every image a name or partial version matches")
    .option(
      "--json",
      "print {removed: [{name, version, buildHash, dir, removed, freedBytes, left}], freedBytes}",
    )
    .action(async (refs: string[], opts: { allVersions?: boolean; json?: boolean }) => {
      const ctx = makeContext(!!opts.json);
      const removed = await removeImages(refs, { allVersions: !!opts.allVersions, users: vmUsers });
      ctx.result(
        removed.flatMap((r) => [
          `removed ${slotLabel(r.dir)} (${formatBytes(r.freedBytes)} freed)`,
          ...(r.left.length
            ? [`kept ${r.dir}: it holds files plinth did not write (${r.left.join(", ")})`]
            : []),
        ]),
        { removed, freedBytes: removed.reduce((n, r) => n + r.freedBytes, 0) },
      );
    });
}
