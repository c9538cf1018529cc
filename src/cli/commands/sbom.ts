import type { Command } from "commander";
import { readFile } from "node:fs/promises";
import { resolveImage } from "../../builder/build.js";
import { NotFoundError } from "../../errors.js";
import { readMetadata } from "../../image/metadata.js";
import { inside } from "../../util/safe-path.js";
import { makeContext } from "../context.js";

export function registerSbom(program: Command): void {
  program
    .command("sbom")
    .description("print an image's SBOM (SPDX 2.3 JSON: its packages, versions, licenses, purls)")
    .argument("<image>", "image directory, name[:version] in the store, or a plinth.yaml")
    .action(async (ref: string) => {
      const ctx = makeContext(false);
      const { imageDir } = await resolveImage(ref, {
        onEvent: ctx.renderer.onEvent,
        signal: ctx.signal,
      });
      const sbom = (await readMetadata(imageDir)).artifacts.find((a) => a.kind === "sbom");
      if (!sbom)
        throw new NotFoundError(
          `${imageDir} has no SBOM.`,
          "Rebuild it with this plinth: every image built now has one.",
        );
      ctx.renderer.close();
      process.stdout.write(await readFile(inside(imageDir, sbom.name), "utf8"));
    });
}
