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
  /** Every timestamp in the filesystem is at most this (docs/build.md, "Reproducibility"). */
  epoch: number;
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
 * `headroom` of free space. UUID, hash seed and every timestamp are pinned, so equal trees
 * give equal bytes: mke2fs -d visits entries sorted by name, and inodes and blocks are
 * allocated in that order.
 */
export async function makeExt4(dir: string, image: string, opts: Ext4Options): Promise<void> {
  await clampMtimes(dir, opts.epoch, opts.signal);
  await shapeExt4(dir, image, opts);
  await pinInodeTimes(image, opts.epoch, opts.signal);
}

async function shapeExt4(dir: string, image: string, opts: Ext4Options): Promise<void> {
  const usage = await treeUsage(dir, opts.signal);
  if (opts.size !== undefined && opts.size < usage * 1.1) {
    throw new UserError(
      "DISK_TOO_SMALL",
      `disk.size ${Math.round(opts.size / MiB)} MiB is too small: the rootfs needs about ${Math.ceil((usage * 1.1) / MiB)} MiB.`,
      { hint: "Raise disk.size or remove it to size the filesystem to fit." },
    );
  }
  const stage = { stage: "ext4", signal: opts.signal, env: fakeTime(opts.epoch) };
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

/** e2fsprogs' own clock for the superblock, journal and the inodes it makes itself. */
const fakeTime = (epoch: number) => ({ E2FSPROGS_FAKE_TIME: String(epoch) });

/** No file newer than the epoch (older ones keep their package's mtime). */
async function clampMtimes(tree: string, epoch: number, signal?: AbortSignal): Promise<void> {
  // prettier-ignore
  await run(
    ["find", tree, "-newermt", `@${epoch}`, "-exec", "touch", "--no-dereference", "--date", `@${epoch}`, "{}", "+"],
    { stage: "ext4", signal },
  );
}

/**
 * mke2fs -d copies atime and ctime from the tree, and no tool can set a ctime there (the
 * kernel stamps it), so set atime, ctime and crtime of every inode in use to the epoch in
 * the image itself: one debugfs batch, about 0.1 s for 10,000 inodes.
 */
async function pinInodeTimes(image: string, epoch: number, signal?: AbortSignal): Promise<void> {
  const stage = { stage: "ext4", signal, env: fakeTime(epoch) };
  const commands: string[] = [];
  for (const ino of usedInodes(await run(["dumpe2fs", image], stage)))
    for (const field of ["atime", "ctime", "crtime"])
      commands.push(`set_inode_field <${ino}> ${field} @${epoch}`);
  await run(["debugfs", "-w", "-f", "-", image], { ...stage, input: commands.join("\n") + "\n" });
}

/**
 * The root directory and every non-reserved inode that dumpe2fs does not list as free.
 * Exported for tests.
 */
export function usedInodes(dumpe2fs: string): number[] {
  const count = Number(/^Inode count:\s+(\d+)/m.exec(dumpe2fs)?.[1] ?? 0);
  const first = Number(/^First inode:\s+(\d+)/m.exec(dumpe2fs)?.[1] ?? 11);
  const free = new Uint8Array(count + 1);
  for (const m of dumpe2fs.matchAll(/^\s+Free inodes: (.*)$/gm))
    for (const range of m[1]!.split(",")) {
      const [a, b] = range.trim().split("-").map(Number);
      if (a === undefined || Number.isNaN(a)) continue;
      for (let i = a; i <= (b ?? a) && i <= count; i++) free[i] = 1;
    }
  const used = [2];
  for (let i = first; i <= count; i++) if (!free[i]) used.push(i);
  return used;
}

async function blockCount(image: string, signal?: AbortSignal): Promise<number> {
  const out = await run(["dumpe2fs", "-h", image], { stage: "ext4", signal });
  const m = /^Block count:\s+(\d+)/m.exec(out);
  return Number(m?.[1] ?? 0);
}

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}
