import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** Where images, VM state and probes live: $PLINTH_HOME, else XDG data home. */
export function plinthHome(): string {
  if (process.env.PLINTH_HOME) return path.resolve(process.env.PLINTH_HOME);
  const data = process.env.XDG_DATA_HOME || path.join(os.homedir(), ".local", "share");
  return path.join(data, "plinth");
}

/** Stage caches (bootstrap tarballs, downloaded packages): $PLINTH_CACHE, else XDG cache home. */
export function cacheDir(): string {
  if (process.env.PLINTH_CACHE) return path.resolve(process.env.PLINTH_CACHE);
  const cache = process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache");
  return path.join(cache, "plinth");
}

export function imagesDir(): string {
  return path.join(plinthHome(), "images");
}

/** This plinth package's root (dist/ and, in a source checkout, agent/ are below it). */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, "package.json")) && path.dirname(dir) !== dir)
    dir = path.dirname(dir);
  return dir;
}
