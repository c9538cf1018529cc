import { truncate } from "node:fs/promises";
import { ToolError, UserError } from "../../errors.js";
import { run } from "../../host/exec.js";

const MiB = 1024 * 1024;

export interface Ext4Options {
  /** Fixed size in bytes; otherwise sized to fit. */
  size?: number;
  shrink: boolean;
  headroom: number;
  uuid: string;
  label?: string;
  sourceDateEpoch?: number;
  signal?: AbortSignal;
}

/** Bytes the tree occupies on disk. */
export async function treeUsage(dir: string, signal?: AbortSignal): Promise<number> {
  const out = await run(["du", "-s", "--block-size=1", dir], { stage: "ext4", signal });
  return Number(out.split(/\s/)[0]);
}

/**
 * Make an ext4 image from a directory with `mke2fs -d`: no mount, no loop device. Then
 * either keep the fixed size, or shrink to the minimum with `resize2fs -M` and give back
 * `headroom` of free space. Timestamps, UUID and hash seed are pinned for reproducibility.
 */
export async function makeExt4(dir: string, image: string, opts: Ext4Options): Promise<void> {
  const usage = await treeUsage(dir, opts.signal);
  if (opts.size !== undefined && opts.size < usage * 1.1) {
    throw new UserError(
      "DISK_TOO_SMALL",
      `disk.size ${Math.round(opts.size / MiB)} MiB is too small: the rootfs needs about ${Math.ceil((usage * 1.1) / MiB)} MiB.`,
      { hint: "Raise disk.size or remove it to size the filesystem to fit." },
    );
  }
  const env: Record<string, string> = {};
  if (opts.sourceDateEpoch !== undefined) env.E2FSPROGS_FAKE_TIME = String(opts.sourceDateEpoch);
  const stage = { stage: "ext4", signal: opts.signal, env };
  // prettier-ignore
  const mkfs = (bytes: number) =>
    run(
      [
        "mke2fs", "-q", "-F", "-t", "ext4", "-b", "4096", "-I", "256", "-m", "0",
        "-L", opts.label ?? "rootfs", "-U", opts.uuid, "-E", `root_owner=0:0,hash_seed=${opts.uuid}`,
        "-d", dir, image, `${Math.floor(bytes / 1024)}k`,
      ],
      stage,
    );
  const generous = roundUp(usage * 1.3 + 256 * MiB, MiB);
  if (opts.size !== undefined || !opts.shrink) return void (await mkfs(opts.size ?? generous));

  // resize2fs -M is conservative: on a tree of many small files it leaves ~30% free (a
  // 1.6 GB devbox tree came out at 2.6 GB). So try a tight size first; only when the
  // files do not fit, the generous one, which -M then shrinks.
  try {
    await mkfs(roundUp(usage * 1.08 + 96 * MiB, MiB));
  } catch (error) {
    if (!(error instanceof ToolError)) throw error;
    await mkfs(generous);
  }
  const minimum = Number(/(\d+)\s*$/.exec(await run(["resize2fs", "-P", image], stage))?.[1] ?? 0);
  if (minimum && minimum < (await blockCount(image, opts.signal)))
    await run(["resize2fs", "-M", image], stage);
  const target = roundUp((await blockCount(image, opts.signal)) * 4096 + opts.headroom, 4 * MiB);
  await run(["resize2fs", image, `${target / 1024}K`], stage);
  await truncate(image, target);
}

async function blockCount(image: string, signal?: AbortSignal): Promise<number> {
  const out = await run(["dumpe2fs", "-h", image], { stage: "ext4", signal });
  const m = /^Block count:\s+(\d+)/m.exec(out);
  return Number(m?.[1] ?? 0);
}

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}
