import { chmod, lchown, lstat, mkdir, readdir, rename, rm, utimes } from "node:fs/promises";
import path from "node:path";
import { run } from "../../host/exec.js";
import { resolveInRoot } from "../in-root.js";

const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";

/**
 * Container image layers, lowest first, applied to `tree` as a container runtime would:
 * a `.wh.<name>` file deletes `<name>` from the layers below, a `.wh..wh..opq` file
 * empties its directory of them, and everything else replaces what was at its path.
 *
 * Each layer is first extracted on its own into an empty directory beside `tree`, so GNU
 * tar never writes through a symlink an earlier layer planted (it defers the symlinks of
 * its own archive), then moved into `tree` with every path resolved inside it, as a
 * chroot would: a layer cannot reach the host through `etc -> /`. Moving by rename keeps
 * each file's owner, mode, xattrs and hard links exactly as the layer's tar had them.
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
    await mkdir(staged);
    try {
      // GNU tar detects gzip, zstd or none from the bytes.
      await run(
        [
          "tar",
          "-x",
          "--numeric-owner",
          "-p",
          "--xattrs",
          "--xattrs-include=*",
          ...(o.noDevices ? ["--exclude=dev/*", "--exclude=./dev/*"] : []),
          "-f",
          layer,
          "-C",
          staged,
        ],
        { stage: "bootstrap", signal: o.signal },
      );
      await applyWhiteouts(staged, tree, "/");
      await merge(staged, tree, "/");
    } finally {
      await rm(staged, { recursive: true, force: true });
    }
  }
}

/** Delete what this layer's whiteouts name from the tree, and the whiteout files themselves. */
async function applyWhiteouts(dir: string, tree: string, rel: string): Promise<void> {
  for (const name of await readdir(dir)) {
    const p = path.join(dir, name);
    if (name === OPAQUE) {
      const target = resolveInRoot(tree, rel);
      const st = await lstat(target).catch(() => undefined);
      if (st?.isDirectory())
        for (const child of await readdir(target))
          await rm(path.join(target, child), { recursive: true, force: true });
      await rm(p);
    } else if (name.startsWith(WHITEOUT)) {
      const gone = path.posix.join(rel, name.slice(WHITEOUT.length));
      await rm(resolveInRoot(tree, gone, false), { recursive: true, force: true });
      await rm(p);
    } else if ((await lstat(p)).isDirectory()) {
      await applyWhiteouts(p, tree, path.posix.join(rel, name));
    }
  }
}

/** Move the layer's entries into the tree; a directory on a directory merges into it. */
async function merge(dir: string, tree: string, rel: string): Promise<void> {
  for (const name of await readdir(dir)) {
    const from = path.join(dir, name);
    const inImage = path.posix.join(rel, name);
    const to = resolveInRoot(tree, inImage, false);
    const st = await lstat(from);
    const there = await lstat(to).catch(() => undefined);
    if (st.isDirectory() && there?.isDirectory()) {
      await merge(from, tree, inImage);
      // The upper layer's directory metadata wins, as in an overlay mount.
      await lchown(to, st.uid, st.gid);
      await chmod(to, st.mode & 0o7777);
      await utimes(to, st.atime, st.mtime);
      continue;
    }
    if (there) await rm(to, { recursive: true, force: true });
    await mkdir(path.dirname(to), { recursive: true });
    await rename(from, to);
  }
}
