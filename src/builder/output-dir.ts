import { lstatSync, readdirSync } from "node:fs";
import { chmod, mkdtemp, rename, rm, rmdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import lockfile from "proper-lockfile";
import { UserError } from "../errors.js";
import { METADATA, readMetadata } from "../image/metadata.js";
import { cacheDir, plinthHome } from "../paths.js";

/**
 * Where a build may land. A new path, an empty directory or an earlier image directory
 * (its metadata.json parses) is fine; a directory holding anything else is refused unless
 * `force`. Some directories are refused even then: `/`, and any directory that holds the
 * store, the cache, the home or working directory, or the spec itself.
 */
export async function checkOutputDir(
  dest: string,
  o: { force?: boolean; specFile: string },
): Promise<void> {
  const refuse = (why: string, hint: string) => {
    throw new UserError("OUTPUT_REFUSED", `Refusing to build into ${dest}: ${why}.`, { hint });
  };
  const precious = [plinthHome(), cacheDir(), os.homedir(), process.cwd(), o.specFile];
  const holds = precious.find((p) => p === dest || p.startsWith(dest + path.sep));
  if (dest === path.parse(dest).root || holds)
    refuse(`it holds ${holds ?? "everything"}`, "Pass a new or empty directory with -o.");
  const st = lstatOrUndefined(dest);
  if (!st) return;
  if (st.isSymbolicLink()) refuse("it is a symbolic link", "Pass the directory it points to.");
  if (!st.isDirectory()) refuse("it is not a directory", "Pass a new or empty directory with -o.");
  if (readdirSync(dest).length === 0 || o.force) return;
  const image = await readMetadata(dest).then(
    () => true,
    () => false,
  );
  if (!image)
    refuse(
      `it is not empty and holds no plinth image (${METADATA})`,
      "Pass a new or empty directory, or add --force to replace it.",
    );
}

function lstatOrUndefined(p: string) {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

/** A fresh temp directory beside `dest` (same filesystem: the final rename is atomic). */
export async function tempBeside(dest: string): Promise<string> {
  const dir = await mkdtemp(path.join(path.dirname(dest), `.${path.basename(dest)}.plinth-tmp-`));
  await chmod(dir, 0o755); // mkdtemp's 0700 would become the image directory's mode
  return dir;
}

/**
 * Rename `from` onto `to`, replacing what checkOutputDir accepted there, with no moment
 * where neither exists as a whole; under a lock beside `to`, so two builds of the same
 * slot take turns.
 */
export async function replaceDir(from: string, to: string): Promise<void> {
  const release = await lockfile.lock(to, {
    realpath: false,
    lockfilePath: path.join(path.dirname(to), `.${path.basename(to)}.lock`),
    retries: { retries: 100, minTimeout: 100, maxTimeout: 1000 },
    stale: 30_000,
  });
  try {
    if (!lstatOrUndefined(to)) return await rename(from, to);
    if (readdirSync(to).length === 0) {
      await rmdir(to);
      return await rename(from, to);
    }
    const old = await tempBeside(to);
    await rename(to, path.join(old, "old"));
    await rename(from, to);
    await rm(old, { recursive: true, force: true });
  } finally {
    await release();
  }
}
