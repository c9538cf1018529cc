import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import semver from "semver";
import { NotFoundError, UserError } from "../errors.js";
import { METADATA, readMetadata, type ImageMetadata } from "../image/metadata.js";
import { checkName, isValidName } from "../names.js";
import { imagesDir } from "../paths.js";
import { inside } from "../util/safe-path.js";

/**
 * The local store: `<PLINTH_HOME>/images/<name>/<slot>/`, one slot per build. A slot is
 * `<version>+<build hash, 12 hex>`: two builds of one version (a `--set`, an edited file,
 * a dirty work tree on the same day and commit) get two slots, and rebuilding the same
 * inputs lands in the same one.
 */
export function slotName(version: string, buildHash: string): string {
  // Both come from metadata.json, which a pull takes from a registry: never a path.
  if (!/^[0-9A-Za-z][0-9A-Za-z.+~_-]*$/.test(version) || !/^[0-9a-f]{12,}$/.test(buildHash))
    throw new UserError(
      "BAD_METADATA",
      `"${version}+${buildHash.slice(0, 12)}" is not an image version and build hash.`,
    );
  return `${version}+${buildHash.slice(0, 12)}`;
}

/** The directory of a slot, checked to stay under the store. */
export function slotDir(name: string, version: string, buildHash: string): string {
  return inside(imagesDir(), path.join(checkName("image", name), slotName(version, buildHash)));
}

interface Slot {
  dir: string;
  meta: ImageMetadata;
  mtimeMs: number;
}

/**
 * Every readable image of `name` (or all names) in the store, highest version first, then
 * newest; with `buildHash`, only the slots named for it (the others are not even read).
 */
export async function listSlots(name?: string, buildHash?: string): Promise<Slot[]> {
  const root = imagesDir();
  if (!existsSync(root)) return [];
  const names = name ? [checkName("image", name)] : readdirSync(root).filter(isValidName);
  const slots: Slot[] = [];
  for (const n of names) {
    const d = path.join(root, n);
    if (!existsSync(d)) continue;
    const suffix = buildHash && `+${buildHash.slice(0, 12)}`;
    for (const v of readdirSync(d)) {
      if (suffix && !v.endsWith(suffix)) continue;
      const dir = path.join(d, v);
      const file = path.join(dir, METADATA);
      if (!existsSync(file)) continue;
      const meta = await readMetadata(dir).catch(() => undefined);
      if (meta) slots.push({ dir, meta, mtimeMs: statSync(file).mtimeMs });
    }
  }
  return slots.sort(
    (a, b) => compareVersions(b.meta.version, a.meta.version) || b.mtimeMs - a.mtimeMs,
  );
}

/** An image already built from exactly this build hash, if the store has one. */
export async function findByBuildHash(
  name: string,
  buildHash: string,
): Promise<string | undefined> {
  return (await listSlots(name, buildHash)).find((s) => s.meta.buildHash === buildHash)?.dir;
}

function compareVersions(a: string, b: string): number {
  const [pa, pb] = [semver.parse(a), semver.parse(b)];
  if (pa && pb) return semver.compare(pa, pb);
  return pa ? 1 : pb ? -1 : a.localeCompare(b);
}

/**
 * A version reference, by parsed fields: `1` is any 1.x.y, `1.2` any 1.2.y (not 1.20),
 * `1.2.3` any build of 1.2.3, `1.2.3-20261202-abc1234` that version, and `+<hex>` after
 * any of these one build by its hash prefix.
 */
export function matchesVersionRef(
  ref: string,
  meta: Pick<ImageMetadata, "version" | "buildHash">,
): boolean {
  const m = /^(\d+)(?:\.(\d+)(?:\.(\d+)(?:-([0-9A-Za-z.-]+))?)?)?(?:\+([0-9a-f]{1,64}))?$/.exec(
    ref,
  );
  if (!m) return false;
  const v = semver.parse(meta.version);
  if (!v) return false;
  const [, major, minor, patch, pre, build] = m;
  return (
    v.major === Number(major) &&
    (minor === undefined || v.minor === Number(minor)) &&
    (patch === undefined || v.patch === Number(patch)) &&
    (pre === undefined || v.prerelease.join(".") === pre) &&
    (build === undefined || meta.buildHash.startsWith(build))
  );
}

/** An image reference: a directory holding metadata.json, or `name[:version]` in the store. */
export async function resolveImageRef(ref: string): Promise<string> {
  if (existsSync(path.join(ref, METADATA))) return path.resolve(ref);
  const at = ref.indexOf(":");
  const [name, version] = at < 0 ? [ref, undefined] : [ref.slice(0, at), ref.slice(at + 1)];
  if (!isValidName(name))
    throw new UserError(
      "BAD_IMAGE_REF",
      `"${ref}" is neither a directory with ${METADATA} nor an image name[:version].`,
      { hint: "Pass an image directory, a plinth.yaml, or a name such as minimal:0.1." },
    );
  if (version !== undefined && !/^\d/.test(version))
    throw new UserError("BAD_IMAGE_REF", `"${version}" in "${ref}" is not a version.`, {
      hint: "Use MAJOR[.MINOR[.PATCH[-DATE-GIT]]][+BUILDHASH], e.g. minimal:0.1.",
    });
  const match = (await listSlots(name)).find(
    (s) => version === undefined || matchesVersionRef(version, s.meta),
  );
  if (!match) {
    throw new NotFoundError(
      `No image "${ref}": not a directory with ${METADATA}, nor in the local store.`,
      "Build it first with `plinth build <spec>`, or pass an image directory.",
    );
  }
  return match.dir;
}
