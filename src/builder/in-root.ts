import { lstatSync, readlinkSync } from "node:fs";
import path from "node:path";
import { BuildError } from "../errors.js";

/**
 * The host path of `inRoot` as a process chrooted into `root` would find it: symlinks are
 * followed with absolute targets taken from `root` (Debian's /var/run → /run stays in the
 * image), and `..` stops at `root`. The result always lies inside `root`, so writing
 * through a link a package or a `run` step planted never lands on the host. Components
 * that do not exist yet are kept as written (they will be created inside `root`).
 * `followLast: false` resolves only the parent: for removing or replacing a link itself.
 */
export function resolveInRoot(root: string, inRoot: string, followLast = true): string {
  const todo = inRoot.split("/").filter(Boolean);
  const done: string[] = [];
  let links = 0;
  while (todo.length) {
    const part = todo.shift()!;
    if (part === ".") continue;
    if (part === "..") {
      done.pop();
      continue;
    }
    const host = path.join(root, ...done, part);
    if ((todo.length || followLast) && isSymlink(host)) {
      if (++links > 40) throw new BuildError("customize", `too many symbolic links at ${inRoot}`);
      const target = readlinkSync(host);
      if (target.startsWith("/")) done.length = 0;
      todo.unshift(...target.split("/").filter(Boolean));
      continue;
    }
    done.push(part);
  }
  return path.join(root, ...done);
}

function isSymlink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
