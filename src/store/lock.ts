import { AsyncLocalStorage } from "node:async_hooks";
import { mkdir } from "node:fs/promises";
import lockfile from "proper-lockfile";
import { UserError } from "../errors.js";
import { imagesDir } from "../paths.js";

/** Set while this call chain holds the lock, so a nested withStoreLock does not wait on itself. */
const held = new AsyncLocalStorage<true>();

/**
 * Run `fn` holding the store lock (`<PLINTH_HOME>/images.lock`, beside the store): landing
 * an image, `plinth rm` and `plinth prune` take turns, across processes, so a slot is never
 * removed while one is being renamed in or checked for use. Reentrant within one call chain.
 */
export async function withStoreLock<T>(fn: () => Promise<T>): Promise<T> {
  if (held.getStore()) return fn();
  const dir = imagesDir();
  await mkdir(dir, { recursive: true });
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(dir, {
      realpath: false,
      // Holders refresh the lock every 15 s: one older than 30 s is a killed plinth's.
      stale: 30_000,
      retries: { retries: 120, minTimeout: 100, maxTimeout: 1000 },
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ELOCKED") throw error;
    throw new UserError(
      "STORE_LOCKED",
      `The image store ${dir} is busy: another plinth is changing it.`,
      {
        hint: "Retry when that plinth is done (a lock left by a killed one expires in 30 seconds).",
        cause: error,
      },
    );
  }
  try {
    return await held.run(true, fn);
  } finally {
    await release();
  }
}
