import { readdirSync, realpathSync, type Stats } from "node:fs";
import { rmdir, unlink } from "node:fs/promises";
import path from "node:path";
import { NotFoundError, PlinthError, UserError } from "../errors.js";
import { METADATA, SUMS, readMetadata } from "../image/metadata.js";
import { isValidName } from "../names.js";
import { imagesDir } from "../paths.js";
import { inside, lstatOrUndefined } from "../util/safe-path.js";
import { listSlots, matchesVersionRef } from "./images.js";
import { withStoreLock } from "./lock.js";

/** A VM that keeps an image: its name and the image path in its config. */
export interface ImageUser {
  name: string;
  image: string;
}

/**
 * The VMs that keep images. The store sits below the VM code, so callers pass it (the
 * CLI: every VM with state on disk, `listVms(true)`); it is called under the store lock.
 */
export type ImageUsers = () => Promise<readonly ImageUser[]>;

/** One slot, as `plinth images` shows it. */
export interface StoreImage {
  name: string;
  version: string;
  buildHash: string;
  dir: string;
  /** Allocated on disk (images are sparse), not apparent size. */
  sizeBytes: number;
  created: string;
  vms: string[];
}

/** What removing a slot did (or, for a dry run, would do). */
export interface RemovedSlot {
  name: string;
  version: string;
  buildHash: string;
  dir: string;
  /** The files of plinth's that went. */
  removed: string[];
  freedBytes: number;
  /** What is still in the dir (not plinth's files): the dir is kept for them. */
  left: string[];
}

type Slot = Awaited<ReturnType<typeof listSlots>>[number];

/** Files plinth writes beside an image's artifacts: a pull's origin, a push's record. */
const SIDE_FILES = ["origin.json", "pushed.json"];

/** Every slot in the store, by name, then highest version first. */
export async function listImages(users: ImageUsers): Promise<StoreImage[]> {
  const [slots, vms] = [await listSlots(), await users()];
  return slots
    .map((s) => ({
      name: s.meta.name,
      version: s.meta.version,
      buildHash: s.meta.buildHash,
      dir: s.dir,
      sizeBytes: allocated(s.dir),
      created: s.meta.created,
      vms: usersOf(s.dir, vms),
    }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)); // stable: keeps version order
}

/**
 * `plinth rm`: remove the slots `refs` name, all or none. A ref must name one slot
 * (`--all-versions`: every slot it matches); a slot a VM keeps is refused, naming the VM.
 */
export async function removeImages(
  refs: readonly string[],
  o: { allVersions?: boolean; users: ImageUsers },
): Promise<RemovedSlot[]> {
  const parsed = refs.map(parseStoreRef); // a malformed ref fails before the lock is taken
  return withStoreLock(async () => {
    const slots = new Map<string, Slot>();
    for (const r of parsed) for (const s of await slotsFor(r, !!o.allVersions)) slots.set(s.dir, s);
    const vms = await o.users();
    for (const s of slots.values()) {
      const by = usersOf(s.dir, vms);
      if (by.length) throw inUseError(label(s), by);
    }
    const out: RemovedSlot[] = [];
    for (const s of slots.values()) out.push({ ...identity(s), ...(await removeSlot(s.dir)) });
    return out;
  });
}

/**
 * `plinth prune`'s image half: remove every slot no VM keeps that is not the newest of
 * its name (the one `plinth run NAME` picks: highest version, then latest build), or with
 * `all` every slot no VM keeps. Slots kept only because a VM uses them are in `inUse`.
 */
export async function pruneImages(o: {
  all?: boolean;
  dryRun?: boolean;
  users: ImageUsers;
}): Promise<{ removed: RemovedSlot[]; inUse: StoreImage[]; freedBytes: number }> {
  return withStoreLock(async () => {
    const [slots, vms] = [await listSlots(), await o.users()];
    const seen = new Set<string>();
    const removed: RemovedSlot[] = [];
    const inUse: StoreImage[] = [];
    for (const s of slots) {
      const dirName = path.basename(path.dirname(s.dir));
      const newest = !seen.has(dirName);
      seen.add(dirName);
      if (newest && !o.all) continue;
      const by = usersOf(s.dir, vms);
      if (by.length) {
        const [sizeBytes, created] = [allocated(s.dir), s.meta.created];
        inUse.push({ ...identity(s), dir: s.dir, sizeBytes, created, vms: by });
        continue;
      }
      const done = o.dryRun ? await plannedRemoval(s.dir) : await removeSlot(s.dir);
      removed.push({ ...identity(s), ...done });
    }
    return { removed, inUse, freedBytes: removed.reduce((n, r) => n + r.freedBytes, 0) };
  });
}

/**
 * Remove one store slot (the caller checked no VM keeps it), under the store lock: only
 * the files plinth writes there (the artifacts metadata.json names, SHA256SUMS, the side
 * files, metadata.json last, so an interrupted removal leaves a slot rm still finds),
 * then the dir and the name's dir if that emptied them. Links are removed, never followed.
 */
export async function removeSlot(
  dir: string,
): Promise<Pick<RemovedSlot, "dir" | "removed" | "freedBytes" | "left">> {
  return withStoreLock(async () => {
    const plan = await plannedRemoval(dir);
    for (const f of plan.removed) await unlink(inside(plan.dir, f));
    await rmdir(plan.dir).catch(() => undefined);
    const left = lstatOrUndefined(plan.dir) ? readdirSync(plan.dir) : [];
    if (!left.length) await rmdir(path.dirname(plan.dir)).catch(() => undefined);
    return { ...plan, left };
  });
}

/** The plinth files of a slot that removing it would remove, and the bytes that frees. */
async function plannedRemoval(
  dir: string,
): Promise<Pick<RemovedSlot, "dir" | "removed" | "freedBytes" | "left">> {
  const slot = checkSlotDir(dir);
  // Unparsable metadata names no artifacts: refused, rather than orphaning them.
  const meta = await readMetadata(slot);
  const names = new Set([...meta.artifacts.map((a) => a.name), SUMS, ...SIDE_FILES, METADATA]);
  const removed: string[] = [];
  let freedBytes = 0;
  for (const n of names) {
    const st = lstatOrUndefined(inside(slot, n));
    if (!st || st.isDirectory()) continue; // a directory is no file plinth wrote
    removed.push(n);
    if (st.isFile() && st.nlink === 1) freedBytes += st.blocks * 512; // a hard link frees nothing
  }
  const left = readdirSync(slot).filter((e) => !names.has(e));
  return { dir: slot, removed, freedBytes, left };
}

/** `dir` if it is `<store>/<name>/<slot>` and neither it nor its name dir is a link. */
function checkSlotDir(dir: string): string {
  const root = imagesDir();
  const slot = inside(root, dir);
  const [name, version, ...rest] = path.relative(root, slot).split(path.sep);
  if (rest.length || !version || !isValidName(name!) || version.startsWith("."))
    throw new PlinthError("UNSAFE_PATH", `Refusing to remove ${slot}: it is not a store slot.`);
  for (const p of [path.dirname(slot), slot])
    if (lstatOrUndefined(p)?.isSymbolicLink())
      throw new UserError("SLOT_FOREIGN", `${p} is a symbolic link, not a slot plinth made.`, {
        hint: "Remove the link by hand.",
      });
  return slot;
}

interface StoreRef {
  ref: string;
  name: string;
  version?: string;
}

/** `name[:version]` of an image in the store (never a directory: rm only touches the store). */
function parseStoreRef(ref: string): StoreRef {
  const at = ref.indexOf(":");
  const [name, version] = at < 0 ? [ref, undefined] : [ref.slice(0, at), ref.slice(at + 1)];
  if (!isValidName(name) || (version !== undefined && !/^\d/.test(version)))
    throw new UserError("BAD_IMAGE_REF", `"${ref}" is not an image name[:version].`, {
      hint: "Pass names as `plinth images` shows them, e.g. minimal or minimal:0.1.0.",
    });
  return { ref, name, version };
}

/** The slots a ref names: one, or with `all` every match; none or several (without `all`) is refused. */
async function slotsFor(r: StoreRef, all: boolean): Promise<Slot[]> {
  const v = r.version;
  const matches = (await listSlots(r.name)).filter(
    (s) =>
      v === undefined ||
      matchesVersionRef(v, s.meta) ||
      s.meta.version === v ||
      path.basename(s.dir) === v,
  );
  if (!matches.length)
    throw new NotFoundError(
      `No image "${r.ref}" in the local store.`,
      "See `plinth images` for what it holds.",
    );
  if (matches.length > 1 && !all)
    throw new UserError(
      "AMBIGUOUS_IMAGE_REF",
      `"${r.ref}" matches ${matches.length} images (${matches.map(label).join(", ")}): pass a fuller version, or --all-versions to remove them all.`,
    );
  return matches;
}

function inUseError(what: string, vms: string[]): UserError {
  const names = vms.map((n) => `"${n}"`).join(", ");
  return new UserError(
    "IMAGE_IN_USE",
    `${what} is used by VM${vms.length > 1 ? "s" : ""} ${names}.`,
    {
      // A VM stopped with --keep counts: its overlay is backed by the image.
      hint: `Stop ${vms.length > 1 ? "them" : "it"} first: plinth stop ${vms.join(" ")}`,
    },
  );
}

const label = (s: Slot) => `${path.basename(path.dirname(s.dir))}:${path.basename(s.dir)}`;

const identity = (s: Slot) => ({
  name: s.meta.name,
  version: s.meta.version,
  buildHash: s.meta.buildHash,
});

/** Names of the VMs whose image is `dir` or lies inside it (compared with links resolved). */
function usersOf(dir: string, vms: readonly ImageUser[]): string[] {
  const d = real(dir);
  return vms
    .filter((v) => {
      const i = real(v.image);
      return i === d || i.startsWith(d + path.sep);
    })
    .map((v) => v.name);
}

function real(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

/** Bytes allocated to the files under `p` (sparse images count what they hold). Links not followed. */
function allocated(p: string): number {
  const st: Stats | undefined = lstatOrUndefined(p);
  if (!st) return 0;
  if (!st.isDirectory()) return st.blocks * 512;
  return readdirSync(p).reduce((n, e) => n + allocated(path.join(p, e)), 0);
}
