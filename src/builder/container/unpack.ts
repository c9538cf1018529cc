import { chmod, lchown, lstat, mkdir, readdir, rename, rm, utimes } from "node:fs/promises";
import path from "node:path";
import { run } from "../../host/exec.js";

const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";

/**
 * Container image layers, lowest first, applied to `tree` as a container runtime would
 * (image-spec layer.md): a `.wh.<name>` file deletes `<name>` from the layers below, a
 * `.wh..wh..opq` file empties its directory of them, and everything else replaces what
 * was at its path; a directory on a directory merges into it.
 *
 * Each layer is first extracted on its own into an empty directory beside `tree`, so GNU
 * tar never writes through a symlink an earlier layer planted (it defers the symlinks of
 * its own archive), then moved into `tree` one directory level at a time. A layer's path
 * goes into the tree only below a real directory of the tree (never through a link), so
 * no layer reaches the host through `etc -> /`. Moving by rename keeps each file's owner,
 * mode, xattrs and hard links exactly as the layer's tar had them.
 */
export async function applyLayers(
  layers: string[],
  tree: string,
  o: { signal?: AbortSignal; noDevices?: boolean },
): Promise<void> {
  await mkdir(tree, { recursive: true });
  for (const [i, layer] of layers.entries()) {
    const staged = path.join(path.dirname(tree), `.layer-${i}`);
    await rm(staged, { recursive: true, force: true });
    await mkdir(staged, { mode: 0o700 });
    try {
      const tar = (args: string[]) =>
        run(["tar", ...args], { stage: "bootstrap", signal: o.signal });
      // In a user namespace device nodes cannot be made; the guest mounts devtmpfs anyway.
      const excludes = o.noDevices ? ["--anchored", "--exclude=dev/*", "--exclude=./dev/*"] : [];
      // GNU tar detects gzip, zstd or none from the bytes.
      // prettier-ignore
      await tar(["-x", "--numeric-owner", "-p", "--xattrs", "--xattrs-include=*", ...excludes, "-f", layer, "-C", staged]);
      // Directories tar made only as parents of an entry carry no metadata of the layer's.
      const listed = new Set(
        (await tar(["-t", "-f", layer]))
          .split("\n")
          .filter((n) => n.endsWith("/"))
          .map((n) => path.posix.join("/", n)),
      );
      await merge(staged, tree, "/", listed);
    } finally {
      await rm(staged, { recursive: true, force: true });
    }
  }
}

/**
 * Merge the staged directory `dir` (the layer's `rel`) into `target`, a real directory of
 * the tree: first its whiteouts (which act on the layers below only), then its entries.
 */
async function merge(dir: string, target: string, rel: string, listed: Set<string>): Promise<void> {
  const names = await readdir(dir);
  if (names.includes(OPAQUE))
    for (const child of await readdir(target))
      await rm(path.join(target, child), { recursive: true, force: true });
  for (const name of names.filter((n) => n.startsWith(WHITEOUT))) {
    const gone = name.slice(WHITEOUT.length);
    // `.wh.`, `.wh..`, `.wh...` would name the directory or its parent: not a whiteout.
    if (name !== OPAQUE && gone !== "" && gone !== "." && gone !== "..")
      await rm(path.join(target, gone), { recursive: true, force: true });
    await rm(path.join(dir, name));
  }
  for (const name of names.filter((n) => !n.startsWith(WHITEOUT))) {
    const from = path.join(dir, name);
    const to = path.join(target, name);
    const inImage = path.posix.join(rel, name);
    const st = await lstat(from);
    const there = await lstat(to).catch(() => undefined);
    if (st.isDirectory() && there?.isDirectory()) {
      await merge(from, to, inImage, listed);
      // The upper layer's directory metadata wins, as in an overlay mount, if it has any.
      if (listed.has(`${inImage}/`)) {
        await lchown(to, st.uid, st.gid);
        await chmod(to, st.mode & 0o7777);
        await utimes(to, st.atime, st.mtime);
      }
      continue;
    }
    if (st.isDirectory()) await stripWhiteouts(from); // nothing below it to white out
    if (there) await rm(to, { recursive: true, force: true });
    await rename(from, to);
  }
}

async function stripWhiteouts(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    const p = path.join(dir, name);
    if (name.startsWith(WHITEOUT)) await rm(p, { recursive: true, force: true });
    else if ((await lstat(p)).isDirectory()) await stripWhiteouts(p);
  }
}
