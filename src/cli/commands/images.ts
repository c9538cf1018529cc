import path from "node:path";
import type { Command } from "commander";
import { listSandboxes } from "../../sdk/index.js";
import { listImages, type ImageUsers } from "../../store/manage.js";
import { makeContext } from "../context.js";

/**
 * What keeps an image: every VM with state on disk, running or stopped with --keep. A
 * kept VM's overlay is backed by the image's rootfs, so removing the image would strand
 * that state; `plinth stop NAME` removes the state and with it the claim.
 */
export const vmUsers: ImageUsers = () => listSandboxes({ all: true });

/** 1536 → "1.5K": binary units, as `PLINTH_CACHE_MAX` reads them. */
export function formatBytes(n: number): string {
  const units = ["B", "K", "M", "G", "T"];
  let [v, i] = [n, 0];
  for (; v >= 1024 && i < units.length - 1; i++) v /= 1024;
  return i === 0 ? `${n}B` : `${v < 10 ? v.toFixed(1) : Math.round(v)}${units[i]}`;
}

/** `name:<version>+<build>`: the slot, as `plinth rm` takes it. */
export const slotLabel = (dir: string) =>
  `${path.basename(path.dirname(dir))}:${path.basename(dir)}`;

export function registerImages(program: Command): void {
  program
    .command("images")
    .description("list the images in the local store, their size on disk and the VMs using them")
    .option("--json", "print [{name, version, buildHash, dir, sizeBytes, created, vms}]")
    .action(async (opts: { json?: boolean }) => {
      const ctx = makeContext(!!opts.json);
      const images = await listImages(vmUsers);
      const row = (cells: string[]) =>
        cells.map((c, i) => c.padEnd([20, 32, 12, 7, 17][i] ?? 0)).join(" ");
      ctx.result(
        [
          row(["NAME", "VERSION", "BUILD", "SIZE", "CREATED", "IN USE"]),
          ...images.map((m) =>
            row([
              m.name,
              m.version,
              m.buildHash.slice(0, 12),
              formatBytes(m.sizeBytes),
              m.created.replace("T", " ").slice(0, 16),
              m.vms.join(","),
            ]).trimEnd(),
          ),
        ],
        images,
      );
    });
}
