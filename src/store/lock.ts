import { AsyncLocalStorage } from "node:async_hooks";
import { mkdir } from "node:fs/promises";
import path from "node:path";
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
  const busy = {
    code: "STORE_LOCKED",
    message: `The image store ${dir} is busy: another plinth is changing it.`,
  };
  return withPathLock(dir, busy, () => held.run(true, fn));
}

/**
 * Run `fn` holding `<target>.lock`, across processes (`target` itself need not exist). A
 * lock left by a killed plinth expires; a live holder for longer than the retries is `busy`.
 */
export async function withPathLock<T>(
  target: string,
  busy: { code: string; message: string },
  fn: () => Promise<T>,
): Promise<T> {
  await mkdir(path.dirname(target), { recursive: true });
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(target, {
      realpath: false,
      // Holders refresh the lock every 15 s: one older than 30 s is a killed plinth's.
      stale: 30_000,
      retries: { retries: 120, minTimeout: 100, maxTimeout: 1000 },
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ELOCKED") throw error;
    throw new UserError(busy.code, busy.message, {
      hint: "Retry when that plinth is done (a lock left by a killed one expires in 30 seconds).",
      cause: error,
    });
  }
  try {
    return await fn();
  } finally {
    await release();
  }
}
