import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import { resolveImage } from "../../builder/build.js";
import { parseRegistryRef, pushContainerDisk, pushImage } from "../../registry/index.js";
import { seconds } from "../../ui/progress.js";
import { makeContext } from "../context.js";
import { INSECURE_HELP, insecureFor } from "../options.js";

export function registerPush(program: Command): void {
  program
    .command("push")
    .description(
      "push an image to an OCI registry (as a plinth artifact, or a KubeVirt containerDisk)",
    )
    .argument("<image>", "image directory, name[:version] in the store, or a plinth.yaml")
    .argument("<target>", "HOST[:PORT]/REPOSITORY:TAG")
    .option(
      "--as <kind>",
      "plinth (the whole image) or containerdisk (its qcow2 at /disk/)",
      asOption,
      "plinth",
    )
    .option("--insecure", INSECURE_HELP)
    .option("--json", "JSON events on stdout, the result as the last line")
    .action(
      async (
        ref: string,
        target: string,
        opts: { as: "plinth" | "containerdisk"; insecure?: boolean; json?: boolean },
      ) => {
        const ctx = makeContext(!!opts.json);
        const t0 = performance.now();
        parseRegistryRef(target); // a bad target is refused before a spec is built
        const { imageDir } = await resolveImage(ref, {
          onEvent: ctx.renderer.onEvent,
          signal: ctx.signal,
        });
        const push = opts.as === "containerdisk" ? pushContainerDisk : pushImage;
        const r = await push(imageDir, target, {
          insecure: insecureFor(target, opts.insecure),
          onEvent: ctx.renderer.onEvent,
          signal: ctx.signal,
        });
        const ms = performance.now() - t0;
        const { uploaded, mounted, exists } = r.blobs;
        ctx.result(
          [
            r.ref,
            `  ${uploaded} uploaded (${(r.bytesUploaded / 1024 ** 2).toFixed(1)} MiB), ${mounted} mounted, ${exists} already there, in ${seconds(ms)}`,
          ],
          { ...r, imageDir, durationMs: Math.round(ms) },
        );
      },
    );
}

function asOption(value: string): "plinth" | "containerdisk" {
  if (value !== "plinth" && value !== "containerdisk")
    throw new InvalidArgumentError("expected plinth or containerdisk");
  return value;
}
