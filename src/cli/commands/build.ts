import type { Command } from "commander";
import { buildImage } from "../../builder/build.js";
import { seconds } from "../../ui/progress.js";
import { plural } from "../../util/plural.js";
import { makeContext } from "../context.js";
import { collect } from "../options.js";

export function registerBuild(program: Command): void {
  program
    .command("build")
    .description("build an image from a spec")
    .argument("<spec>", "plinth.yaml to build")
    .option("-o, --output <dir>", "image directory to create (default: the local store)")
    .option(
      "--force",
      "with -o: replace the directory even if it is not empty and holds no plinth image",
    )
    .option("--set <key=value>", "override a spec value (repeatable)", collect, [])
    .option("--no-cache", "rebuild the bootstrap stage even when cached")
    .option("--json", "JSON events on stdout, the result as the last line")
    .action(
      async (
        specFile: string,
        opts: { output?: string; force?: boolean; set: string[]; cache: boolean; json?: boolean },
      ) => {
        const ctx = makeContext(!!opts.json);
        const t0 = performance.now();
        const r = await buildImage({
          specFile,
          sets: opts.set,
          outDir: opts.output,
          force: opts.force,
          noCache: !opts.cache,
          onEvent: ctx.renderer.onEvent,
          signal: ctx.signal,
        });
        const total = performance.now() - t0;
        const rootfs = r.metadata.artifacts.find((a) => a.kind === "rootfs")!;
        ctx.result(
          [
            `built ${r.metadata.name} ${r.metadata.version} in ${seconds(total)}`,
            `  ${r.imageDir}`,
            `  rootfs.ext4 ${(rootfs.size / 1024 ** 2).toFixed(0)} MiB, ${plural(r.metadata.packages.length, "package")}`,
          ],
          {
            imageDir: r.imageDir,
            name: r.metadata.name,
            version: r.metadata.version,
            buildHash: r.metadata.buildHash,
            durationMs: Math.round(total),
          },
        );
      },
    );
}
