import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { NotFoundError } from "../errors.js";
import { METADATA, readMetadata } from "../image/metadata.js";
import { imagesDir } from "../paths.js";

/** Every image directory in the local store (`<PLINTH_HOME>/images/<name>/<version>`), newest first. */
export function listImages(name?: string): string[] {
  const root = imagesDir();
  if (!existsSync(root)) return [];
  const names = name ? [name] : readdirSync(root);
  const dirs: string[] = [];
  for (const n of names) {
    const d = path.join(root, n);
    if (!existsSync(d)) continue;
    for (const v of readdirSync(d)) {
      const dir = path.join(d, v);
      if (existsSync(path.join(dir, METADATA))) dirs.push(dir);
    }
  }
  return dirs.sort(
    (a, b) => statSync(path.join(b, METADATA)).mtimeMs - statSync(path.join(a, METADATA)).mtimeMs,
  );
}

/** An image already built from exactly this build hash, if the store has one. */
export async function findByBuildHash(
  name: string,
  buildHash: string,
): Promise<string | undefined> {
  for (const dir of listImages(name)) {
    const meta = await readMetadata(dir).catch(() => undefined);
    if (meta?.buildHash === buildHash) return dir;
  }
  return undefined;
}

/** An image reference: a directory holding metadata.json, or `name[:version]` in the store. */
export function resolveImageRef(ref: string): string {
  if (existsSync(path.join(ref, METADATA))) return path.resolve(ref);
  const [name, version] = ref.split(":") as [string, string | undefined];
  const match = listImages(name).find((d) => !version || path.basename(d).startsWith(version));
  if (!match) {
    throw new NotFoundError(
      `No image "${ref}": not a directory with ${METADATA}, nor in the local store.`,
      "Build it first with `plinth build <spec>`, or pass an image directory.",
    );
  }
  return match;
}
