import { existsSync } from "node:fs";
import { mkdtemp, statfs } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

/**
 * A scratch directory for the rootfs tree (and mmdebstrap's own temp tree). Unpacking a rootfs onto tmpfs is ~25x faster
 * than onto disk here (0.4 s vs 11 s for 358 MiB), so use /dev/shm when it and free
 * memory both have room for `needBytes` with margin; else the normal temp dir.
 */
export async function makeWorkDir(needBytes: number): Promise<string> {
  const margin = 2 * needBytes + 1024 ** 3;
  let root = process.env.PLINTH_WORKDIR ?? os.tmpdir();
  if (!process.env.PLINTH_WORKDIR && existsSync("/dev/shm")) {
    const fs = await statfs("/dev/shm").catch(() => undefined);
    if (fs && fs.bavail * fs.bsize > margin && os.freemem() > margin) root = "/dev/shm";
  }
  return mkdtemp(path.join(root, "plinth-build-"));
}
