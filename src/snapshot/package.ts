import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, existsSync } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { extract as tarExtract, pack as tarPack } from "tar-stream";
import { NotFoundError, UserError } from "../errors.js";
import { noEvents, type EventSink } from "../events.js";
import { checkName } from "../names.js";
import { pullImage } from "../registry/pull.js";
import { withStoreLock } from "../store/lock.js";
import { addBuffer, addFile } from "../util/tar.js";
import { inside, removeInside } from "../util/safe-path.js";
import { qemuVersion } from "../vm/qemu/version.js";
import { MANIFEST, SNAPSHOT_FILES, verifySnapshot, type SnapshotManifest } from "./manifest.js";
import { findBase } from "./rules.js";
import { PARTIAL, resolveSnapshotRef, snapshotsDir } from "./store.js";

/** A teleport package: a tar of snapshot.json, the snapshot's files and their SHA256SUMS. */
const SUMS = "SHA256SUMS";
const MEMBERS = [MANIFEST, ...SNAPSHOT_FILES];

/** Write snapshot `ref` as one file (checked whole first; written to a temp name, then renamed). */
export async function exportSnapshot(
  ref: string,
  file: string,
): Promise<{ file: string; bytes: number }> {
  const dir = resolveSnapshotRef(ref);
  await verifySnapshot(dir);
  const out = path.resolve(file);
  const tmp = `${out}${PARTIAL}${process.pid}-${randomBytes(3).toString("hex")}`;
  // Opened here, so a path that cannot be written is one sentence and nothing to remove.
  const fd = await open(tmp, "wx").catch((error: NodeJS.ErrnoException) => {
    throw new UserError("EXPORT_PATH", `Cannot write ${out}: ${error.code ?? error.message}.`, {
      hint: "Pick a file in a directory that exists and you may write to.",
    });
  });
  const pack = tarPack();
  const written = pipeline(pack, fd.createWriteStream());
  written.catch(() => undefined); // awaited below; a failure also ends the members' writes
  try {
    const sums: string[] = [];
    for (const m of MEMBERS) {
      const f = path.join(dir, m);
      sums.push(
        `${await addFile(pack, { name: m, mode: 0o644, size: (await stat(f)).size }, f)}  ${m}`,
      );
    }
    // Last, from the bytes just archived: what import checks every member against.
    await addBuffer(pack, { name: SUMS, mode: 0o644 }, Buffer.from(sums.join("\n") + "\n"));
    pack.finalize();
    await written;
    await rename(tmp, out);
  } catch (error) {
    pack.destroy();
    await written.catch(() => undefined);
    await rm(tmp, { force: true });
    throw error;
  }
  return { file: out, bytes: (await stat(out)).size };
}

export interface ImportOptions {
  /** Name in the store (default: the snapshot's own). */
  name?: string;
  /** A registry reference of the base image, pulled when the store lacks it. */
  pull?: string;
  insecure?: string[];
  onEvent?: EventSink;
}

/**
 * Unpack a package into the store's snapshots, every member checked against SHA256SUMS
 * and snapshot.json before it becomes visible. The base image is pulled from `pull` when
 * the store lacks it; without `pull`, restore later says which image is missing.
 */
export async function importSnapshot(
  file: string,
  o: ImportOptions = {},
): Promise<{ dir: string; manifest: SnapshotManifest; pulled?: string }> {
  const emit = o.onEvent ?? noEvents;
  const root = snapshotsDir();
  await mkdir(root, { recursive: true });
  const tmp = inside(root, `${PARTIAL}${process.pid}-${randomBytes(3).toString("hex")}`);
  await mkdir(tmp);
  try {
    if (!existsSync(file))
      throw new NotFoundError(`No file ${file}.`, "Pass the file `plinth snapshot export` wrote.");
    const got = await unpack(path.resolve(file), tmp).catch((error: unknown) => {
      if (error instanceof UserError) throw error;
      throw new UserError(
        "PACKAGE_CORRUPT",
        `${file} is not a whole plinth snapshot package (${error instanceof Error ? error.message : String(error)}).`,
        { hint: "Export the snapshot again and copy the whole file." },
      );
    });
    const listed = parseSums(await readFile(path.join(tmp, SUMS), "utf8").catch(() => ""));
    for (const m of MEMBERS)
      if (!got.has(m) || listed.get(m) !== got.get(m))
        throw new UserError(
          "PACKAGE_CORRUPT",
          `${file}: ${m} is ${got.has(m) ? "not what SHA256SUMS lists" : "missing"}.`,
          { hint: "Export the snapshot again and copy the whole file." },
        );
    const manifest = await verifySnapshot(tmp);
    const name = checkName("snapshot", o.name ?? manifest.name);
    const dir = inside(root, name);
    await rm(path.join(tmp, SUMS));
    // The package says which image it needs; with a reference to pull it from, get it
    // first, so a failed pull leaves nothing imported and the same command can run again.
    let pulled: string | undefined;
    if (o.pull && (await baseMissing(manifest))) {
      pulled = (await pullImage(o.pull, { insecure: o.insecure, onEvent: emit })).imageDir;
      if (await baseMissing(manifest))
        emit({
          type: "log",
          level: "warn",
          message: `${o.pull} is not ${manifest.base.name} ${manifest.base.version} (build ${manifest.base.buildHash.slice(0, 12)}): restore will still refuse this snapshot.`,
        });
    }
    await withStoreLock(async () => {
      if (existsSync(dir))
        throw new UserError("SNAPSHOT_EXISTS", `The store has a snapshot named ${name} already.`, {
          hint: "Import it under another --name, or remove the old one.",
        });
      await rename(tmp, dir);
    });
    return { dir, manifest, pulled };
  } finally {
    if (existsSync(tmp)) await removeInside(root, tmp);
  }
}

/** The store has no image the version rules would restore this snapshot on. */
function baseMissing(s: SnapshotManifest): Promise<boolean> {
  return findBase(s, qemuVersion()).then(
    () => false,
    (e: unknown) =>
      ["SNAPSHOT_BASE_MISSING", "SNAPSHOT_VERSION"].includes((e as { code?: string }).code ?? ""),
  );
}

/** Extract only the members a package has (plain files, each once), hashing as they land. */
async function unpack(file: string, dir: string): Promise<Map<string, string>> {
  const sums = new Map<string, string>();
  const ex = tarExtract();
  const done = pipeline(createReadStream(file), ex);
  // Leaving the loop early (a refused member) destroys the extractor: that is not news.
  done.catch(() => undefined);
  for await (const entry of ex) {
    const name = entry.header.name;
    if (entry.header.type !== "file" || ![SUMS, ...MEMBERS].includes(name) || sums.has(name)) {
      entry.resume();
      throw new UserError(
        "PACKAGE_CORRUPT",
        `${file} is not a plinth snapshot package (member ${JSON.stringify(name)}).`,
        {
          hint: "Pass a file made by `plinth snapshot export`.",
        },
      );
    }
    const hash = createHash("sha256");
    entry.on("data", (b: unknown) => hash.update(b as Buffer));
    await pipeline(entry, createWriteStream(path.join(dir, name), { flags: "wx" }));
    sums.set(name, hash.digest("hex"));
  }
  await done;
  return sums;
}

function parseSums(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^([0-9a-f]{64}) {2}(\S+)$/.exec(line);
    if (m) out.set(m[2]!, m[1]!);
  }
  return out;
}
