import type { Command } from "commander";
import { cacheMaxBytes, pruneCache } from "../../store/cache.js";
import { pruneImages } from "../../store/manage.js";
import { makeContext } from "../context.js";
import { formatBytes, slotLabel, vmUsers } from "./images.js";

export function registerPrune(program: Command): void {
  program
    .command("prune")
    .description(
      "remove superseded images no VM uses, then shrink the stage cache to PLINTH_CACHE_MAX (default 20G)",
    )
    .option("--all", "remove every image no VM uses, the newest of each name too")
    .option("--dry-run", "show what would be removed, remove nothing")
    .option(
      "--json",
      "print {dryRun, images: {removed, inUse, freedBytes}, cache: {...}, freedBytes}",
    )
    .action(async (opts: { all?: boolean; dryRun?: boolean; json?: boolean }) => {
      const ctx = makeContext(!!opts.json);
      const dryRun = !!opts.dryRun;
      const max = cacheMaxBytes(); // a bad PLINTH_CACHE_MAX fails before anything is removed
      const images = await pruneImages({ all: !!opts.all, dryRun, users: vmUsers });
      const cache = await pruneCache({ max, dryRun });
      const verb = dryRun ? "would remove" : "removed";
      const freedBytes = images.freedBytes + cache.freedBytes;
      ctx.result(
        [
          ...images.removed.flatMap((r) => [
            `${verb} ${slotLabel(r.dir)} (${formatBytes(r.freedBytes)})`,
            ...(r.left.length
              ? [`kept ${r.dir}: it holds files plinth did not write (${r.left.join(", ")})`]
              : []),
          ]),
          ...images.inUse.map((m) => `kept ${slotLabel(m.dir)}: used by VM ${m.vms.join(", ")}`),
          ...cache.removed.map(
            (e) => `${verb} cache ${e.files.join(", ")} (${formatBytes(e.bytes)})`,
          ),
          ...cache.busy.map((f) => `kept cache ${f}: in use (locked)`),
          `${dryRun ? "would free" : "freed"} ${formatBytes(freedBytes)}; the cache holds ${formatBytes(cache.totalBytes)} (cap ${formatBytes(cache.maxBytes)})`,
        ],
        { dryRun, images, cache, freedBytes },
      );
    });
}
