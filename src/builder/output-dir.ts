import { readdirSync, realpathSync } from "node:fs";
import { chmod, mkdtemp, rename, rm, rmdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import lockfile from "proper-lockfile";
import { UserError } from "../errors.js";
import { METADATA, readMetadata } from "../image/metadata.js";
import { isValidName } from "../names.js";
import { cacheDir, plinthHome } from "../paths.js";
import { lstatOrUndefined } from "../util/safe-path.js";

const refused = (dest: string, why: string, hint: string) =>
  new UserError("OUTPUT_REFUSED", `Refusing to build into ${dest}: ${why}.`, { hint });

/** `p` with every existing ancestor's symlinks resolved (the real place a rename lands). */
function real(p: string): string {
  const abs = path.resolve(p);
  try {
    return realpathSync(abs);
  } catch {
    const parent = path.dirname(abs);
    return parent === abs ? abs : path.join(real(parent), path.basename(abs));
  }
}

/**
 * Where a build may land. A new path, an empty directory or an earlier image directory
 * (its metadata.json parses) is fine; a directory holding anything else is refused unless
 * `force`. Some are refused even then: `/`, any directory that holds the store, the cache,
 * the home or working directory, or the spec; and anything inside the store or the cache
 * but an image slot (`images/<name>/<slot>`). Paths are compared after resolving symlinks.
 */
export async function checkOutputDir(
  dest: string,
  o: { force?: boolean; specFile: string },
): Promise<void> {
  const to = real(dest);
  const [home, cache] = [real(plinthHome()), real(cacheDir())];
  const precious = [home, cache, os.homedir(), process.cwd(), o.specFile].map(real);
  const holds = precious.find((p) => p === to || p.startsWith(to + path.sep));
  if (to === path.parse(to).root || holds)
    throw refused(dest, `it holds ${holds ?? "everything"}`, "Pass a new or empty directory.");
  const inStore = path.relative(home, to).split(path.sep);
  const slot = inStore.length === 3 && inStore[0] === "images" && isValidName(inStore[1]!);
  if ((!inStore[0]!.startsWith("..") && !slot) || !path.relative(cache, to).startsWith(".."))
    throw refused(dest, "it is inside plinth's store or cache", "Pass a directory outside them.");
  await checkContents(dest, !!o.force);
}

/** What is at `dest` now may be replaced: nothing, an empty dir, an image dir, or (force) any dir. */
async function checkContents(dest: string, force: boolean): Promise<void> {
  const st = lstatOrUndefined(dest);
  if (!st) return;
  if (st.isSymbolicLink())
    throw refused(dest, "it is a symbolic link", "Pass the directory it points to.");
  if (!st.isDirectory())
    throw refused(dest, "it is not a directory", "Pass a new or empty directory with -o.");
  if (readdirSync(dest).length === 0 || force) return;
  const image = await readMetadata(dest).then(
    () => true,
    () => false,
  );
  if (!image)
    throw refused(
      dest,
      `it is not empty and holds no plinth image (${METADATA})`,
      "Pass a new or empty directory, or add --force to replace it.",
    );
}

/** A fresh temp directory beside `dest` (same filesystem: the final rename is atomic). */
export async function tempBeside(dest: string): Promise<string> {
  const dir = await mkdtemp(path.join(path.dirname(dest), `.${path.basename(dest)}.plinth-tmp-`));
  await chmod(dir, 0o755); // mkdtemp's 0700 would become the image directory's mode
  return dir;
}

/**
 * Rename `from` onto `to`, replacing what is there, under a lock beside `to` so two
 * builds of the same slot take turns. What is there is checked again under the lock (it
 * may have appeared during the build): only what checkOutputDir accepts is replaced.
 */
export async function replaceDir(
  from: string,
  to: string,
  o: { force?: boolean } = {},
): Promise<void> {
  const release = await lockfile.lock(to, {
    realpath: false,
    lockfilePath: path.join(path.dirname(to), `.${path.basename(to)}.lock`),
    retries: { retries: 100, minTimeout: 100, maxTimeout: 1000 },
    stale: 30_000,
  });
  try {
    await checkContents(to, !!o.force);
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
