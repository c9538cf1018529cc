import { lstatSync, type Stats } from "node:fs";
import { rm } from "node:fs/promises";
import path from "node:path";
import { PlinthError } from "../errors.js";

/** `p` resolved, if it lies strictly inside `root` (never `root` itself, never outside it). */
export function inside(root: string, p: string): string {
  const r = path.resolve(root);
  const abs = path.resolve(r, p);
  const rel = path.relative(r, abs);
  if (!rel || rel === ".." || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel))
    throw new PlinthError("UNSAFE_PATH", `Refusing to touch ${abs}: it is not inside ${r}.`);
  return abs;
}

/** Remove a file or tree that must lie inside `root`; anything else is refused before rm runs. */
export async function removeInside(root: string, p: string): Promise<void> {
  await rm(inside(root, p), { recursive: true, force: true });
}

/** lstat, or undefined when nothing is there. */
export function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}
