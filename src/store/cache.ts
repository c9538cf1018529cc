import { readdirSync } from "node:fs";
import { stat, unlink, utimes } from "node:fs/promises";
import path from "node:path";
import lockfile from "proper-lockfile";
import { UserError } from "../errors.js";
import { cacheDir } from "../paths.js";
import { parseSize } from "../spec/schema.js";
import { lstatOrUndefined } from "../util/safe-path.js";

export const DEFAULT_CACHE_MAX = 20 * 1024 ** 3;

/** The stage cache's cap: `PLINTH_CACHE_MAX` (bytes, or 512M, 20G, 1.5T), else 20 GiB. */
export function cacheMaxBytes(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.PLINTH_CACHE_MAX?.trim();
  if (!v) return DEFAULT_CACHE_MAX;
  if (!/^\d+(\.\d+)?\s*([KMGT](i?B)?)?$/i.test(v))
    throw new UserError("BAD_CACHE_MAX", `PLINTH_CACHE_MAX="${v}" is not a size.`, {
      hint: "Set it to a number of bytes or a size such as 512M, 20G or 1T, or unset it for 20G.",
    });
  return parseSize(v);
}

/**
 * One thing the cache can drop: a bootstrap tarball with its epoch file, a pushed blob with
 * its digest file, a killed pull's partial download, or one cached .deb.
 */
interface Entry {
  /** Relative to the cache dir; the first is the one the entry is named by. */
  files: string[];
  bytes: number;
  atimeMs: number;
  /** The file whose lock a user holds while it uses the entry (a bootstrap's tarball, a part). */
  locked?: string;
}

export interface CachePruneResult {
  /** What was removed (or, dry run, would be): files relative to the cache dir, bytes freed. */
  removed: { files: string[]; bytes: number }[];
  freedBytes: number;
  /** Entries kept over the cap because a build or a pull holds their lock. */
  busy: string[];
  /** What the cache holds afterwards, of what pruning manages (bootstrap/, debs/, blobs/, downloads/). */
  totalBytes: number;
  maxBytes: number;
}

/**
 * Shrink the stage cache (`bootstrap/` tarballs, `blobs/` made for pushes, `downloads/`
 * left by killed pulls, `debs/<dist>/` packages) to `max` bytes, least recently used first
 * (by atime: bootstrap and push set it on each use). A tarball or a partial download is
 * removed holding its lock, so never while a build or a pull uses it; the .deb caches are
 * left alone while any bootstrap runs, as mmdebstrap syncs them in and out.
 */
export async function pruneCache(
  o: { max?: number; dryRun?: boolean } = {},
): Promise<CachePruneResult> {
  const maxBytes = o.max ?? cacheMaxBytes();
  const root = cacheDir();
  const entries = [
    ...grouped(root, "bootstrap", BOOTSTRAP, true),
    ...grouped(root, "blobs", BLOB, false),
    ...grouped(root, "downloads", PART, true),
    ...debEntries(root),
  ].sort((a, b) => a.atimeMs - b.atimeMs);
  let totalBytes = entries.reduce((n, e) => n + e.bytes, 0);
  const result: CachePruneResult = { removed: [], freedBytes: 0, busy: [], totalBytes, maxBytes };
  let bootstrapping: boolean | undefined;
  for (const e of entries) {
    if (totalBytes <= maxBytes) break;
    bootstrapping ??= e.locked ? undefined : await anyBootstrapRunning(root);
    const gone = e.locked
      ? await dropLocked(root, e, !!o.dryRun)
      : !bootstrapping && (o.dryRun || (await drop(root, e.files)));
    if (!gone) {
      result.busy.push(e.files[0]!);
      continue;
    }
    result.removed.push({ files: e.files, bytes: e.bytes });
    result.freedBytes += e.bytes;
    totalBytes -= e.bytes;
  }
  return { ...result, totalBytes };
}

const LOCK = { realpath: false, stale: 30_000 } as const; // as the bootstrap stage takes it

/** Remove an entry if its lock can be had now; false if a build or a pull holds it. */
async function dropLocked(root: string, e: Entry, dryRun: boolean): Promise<boolean> {
  const tarball = path.join(root, e.locked!);
  if (dryRun) return !(await lockfile.check(tarball, LOCK));
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(tarball, { ...LOCK, retries: 0 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ELOCKED") return false;
    throw error;
  }
  try {
    return await drop(root, e.files);
  } finally {
    await release();
  }
}

async function drop(root: string, files: string[]): Promise<true> {
  for (const f of files) await unlink(path.join(root, f)).catch(ignoreMissing);
  return true;
}

function ignoreMissing(error: NodeJS.ErrnoException): void {
  if (error.code !== "ENOENT") throw error;
}

/**
 * `<hash>.tar` with `<hash>.epoch` (and, for a container base, `<hash>.oci.json`); temp
 * files and lock dirs are a running build's.
 */
const BOOTSTRAP = /^(?<key>[0-9a-f]+)\.(?:tar|(?<side>epoch|oci\.json))$/;
/** `<sha>.zst` with `.sha256`, `<sha>.containerdisk.tar.gz` with `.json`: remade on the next push. */
const BLOB = /^(?<key>[0-9a-f]{64}\.(?:zst|containerdisk\.tar\.gz))(?<side>\.sha256|\.json)?$/;
/** A blob a killed pull left, kept for the rerun to resume until the cap needs the room. */
const PART = /^(?<key>sha256-[0-9a-f]{64})\.part$/;

/**
 * The files of `sub` that `re` matches, grouped by its `key`: the one that is no `side`
 * file names the entry and gives its use time, and with `locking` is the file whose lock
 * guards the entry.
 */
function grouped(root: string, sub: string, re: RegExp, locking: boolean): Entry[] {
  const byKey = new Map<string, Entry>();
  for (const name of list(path.join(root, sub))) {
    const m = re.exec(name);
    const st = m && lstatOrUndefined(path.join(root, sub, name));
    if (!m || !st?.isFile()) continue;
    const file = path.join(sub, name);
    const key = m.groups!.key!;
    const e = byKey.get(key) ?? { files: [], bytes: 0, atimeMs: st.atimeMs };
    e.bytes += st.blocks * 512;
    if (m.groups!.side === undefined) {
      e.files.unshift(file);
      e.atimeMs = st.atimeMs;
      if (locking) e.locked = file;
    } else e.files.push(file);
    byKey.set(key, e);
  }
  return [...byKey.values()];
}

function debEntries(root: string): Entry[] {
  const debs = path.join(root, "debs");
  return list(debs).flatMap((dist) => {
    if (!lstatOrUndefined(path.join(debs, dist))?.isDirectory()) return [];
    return list(path.join(debs, dist)).flatMap((f) => {
      const st = lstatOrUndefined(path.join(debs, dist, f));
      if (!st?.isFile()) return [];
      return [{ files: [path.join("debs", dist, f)], bytes: st.blocks * 512, atimeMs: st.atimeMs }];
    });
  });
}

/** Whether a build holds a bootstrap lock now (one not refreshed for 30 s is a killed build's). */
async function anyBootstrapRunning(root: string): Promise<boolean> {
  for (const n of list(path.join(root, "bootstrap"))) {
    const m = /^(.+\.tar)\.lock$/.exec(n);
    if (m && (await lockfile.check(path.join(root, "bootstrap", m[1]!), LOCK))) return true;
  }
  return false;
}

/**
 * Record a use for pruning's least-recently-used order: atime now, set explicitly (relatime
 * and noatime mounts would not), mtime kept (an old tarball's epoch comes from it).
 */
export async function markUsed(file: string): Promise<void> {
  await utimes(file, new Date(), (await stat(file)).mtime);
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
