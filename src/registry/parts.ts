import { copyFile, mkdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import lockfile from "proper-lockfile";
import { cacheDir } from "../paths.js";

/**
 * The download cache, `$PLINTH_CACHE/downloads/sha256-<hex>.part`: one file per blob or
 * artifact, named by its digest, so an interrupted pull (registry, URL or container base)
 * resumes it. Every use of a part holds its lock: two pulls of one blob take turns rather
 * than append to it together, and `plinth prune` skips a locked one.
 */
export async function partFile(digest: string): Promise<string> {
  const dir = path.join(cacheDir(), "downloads");
  await mkdir(dir, { recursive: true });
  return path.join(dir, `sha256-${digest.replace(/^sha256:/, "")}.part`);
}

export async function withPart<T>(part: string, fn: () => Promise<T>): Promise<T> {
  const release = await lockfile.lock(part, {
    realpath: false,
    retries: { retries: 3600, minTimeout: 500, maxTimeout: 1000 },
    stale: 10_000,
  });
  try {
    return await fn();
  } finally {
    await release();
  }
}

/** Move a finished part to `dest` (copied when the cache is on another filesystem). */
export async function movePart(part: string, dest: string): Promise<void> {
  await withPart(part, async () => {
    await rename(part, dest).catch(async (e: NodeJS.ErrnoException) => {
      if (e.code !== "EXDEV") throw e;
      await copyFile(part, dest);
      await rm(part, { force: true });
    });
  });
}

export async function dropPart(part: string): Promise<void> {
  await withPart(part, () => rm(part, { force: true }));
}
