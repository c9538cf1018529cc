import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { pack as tarPack, type Pack } from "tar-stream";
import { BuildError, CancelledError } from "../../errors.js";

export interface OvaOptions {
  /** The .ovf's file name in the directory. */
  ovf: string;
  /** The .vmdk's file name in the directory. */
  vmdk: string;
  /** Every member's mtime: the build's epoch, in seconds. */
  mtime: number;
  signal?: AbortSignal;
}

/**
 * Write `<name>.mf` beside the .ovf (SHA256 lines, `SHA256(file)= hex`) and the OVA: a
 * ustar archive of the .ovf, the .vmdk and the .mf, in that order (OVF requires the
 * descriptor first; the manifest may come after the files, which lets the VMDK be read
 * once, hashed as it is archived). Returns the manifest's file name.
 *
 * Made in-process with tar-stream rather than with the host's tar, so the bytes do not
 * depend on which tar the host has: every header is fixed (mtime the epoch, uid/gid 0,
 * no user or group names, mode 0644) and no pax header is written (names are short; a
 * member over 8 GiB gets the GNU base-256 size field, which ovftool and GNU tar read).
 * The VMDK is streamed, never held in memory. Written to a temp name beside `out` and
 * renamed into place.
 */
export async function writeOva(dir: string, out: string, o: OvaOptions): Promise<string> {
  const { signal } = o;
  for (const name of [o.ovf, o.vmdk])
    if (!name || name !== path.basename(name) || name.startsWith("."))
      throw new BuildError("ova", `${name} is not a plain file name in ${dir}.`);
  const manifest = `${o.ovf.replace(/\.ovf$/, "")}.mf`;
  const tmp = path.join(
    path.dirname(out),
    `.${path.basename(out)}.${randomBytes(6).toString("hex")}.tmp`,
  );
  const mtime = new Date(o.mtime * 1000);
  const header = (name: string, size: number): EntryHeader & { size: number } => ({
    name,
    size,
    mode: 0o644,
    mtime,
    uid: 0,
    gid: 0,
    uname: "",
    gname: "",
    type: "file" as const,
  });
  const pack = tarPack();
  const written = pipeline(pack, createWriteStream(tmp), { signal });
  // Until it is awaited below, a failed write must not be an unhandled rejection.
  written.catch(() => undefined);
  try {
    const ovf = await readFile(path.join(dir, o.ovf));
    await addBuffer(pack, header(o.ovf, ovf.length), ovf);
    const vmdk = path.join(dir, o.vmdk);
    const vmdkSum = await addFile(pack, header(o.vmdk, (await stat(vmdk)).size), vmdk, signal);
    const sums = [`SHA256(${o.ovf})= ${sha256(ovf)}`, `SHA256(${o.vmdk})= ${vmdkSum}`];
    const mf = Buffer.from(sums.join("\n") + "\n");
    await addBuffer(pack, header(manifest, mf.length), mf);
    pack.finalize();
    await written;
    await writeFileAtomic(path.join(dir, manifest), mf);
    await rename(tmp, out);
  } catch (error) {
    pack.destroy();
    await written.catch(() => undefined);
    if (signal?.aborted) throw new CancelledError("ova");
    throw error;
  } finally {
    await rm(tmp, { force: true });
  }
  return manifest;
}

type EntryHeader = Parameters<Pack["entry"]>[0];

// A member's errors arrive through its entry callback; a member stream destroyed with the
// archive also emits one as an event, which must not go unhandled (it would end plinth).
const quiet = (sink: ReturnType<Pack["entry"]>) => sink.on("error", () => undefined);

function addBuffer(pack: Pack, header: EntryHeader, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) =>
    quiet(pack.entry(header, data, (err) => (err ? reject(err) : resolve()))),
  );
}

/** Stream a file into the archive as one member, with back-pressure; its sha256. */
async function addFile(
  pack: Pack,
  header: EntryHeader & { size: number },
  file: string,
  signal?: AbortSignal,
): Promise<string> {
  const hash = createHash("sha256");
  let bytes = 0;
  let sink!: ReturnType<Pack["entry"]>;
  const done = new Promise<void>((resolve, reject) => {
    sink = quiet(pack.entry(header, (err) => (err ? reject(err) : resolve())));
  });
  done.catch(() => undefined);
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20, signal })) {
    const data = chunk as Buffer;
    hash.update(data);
    bytes += data.length;
    // Wait for room; `done` rejects instead if the archive fails meanwhile.
    if (!sink.write(data))
      await Promise.race([
        new Promise<void>((resolve) => sink.once("drain", () => resolve())),
        done,
      ]);
  }
  // A file that changed size under us would make a corrupt member: refuse it.
  if (bytes !== header.size)
    throw new BuildError("ova", `${file} changed while it was archived (${bytes} bytes read).`);
  sink.end(null); // no more data (streamx's types want an argument)
  await done;
  return hash.digest("hex");
}

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

async function writeFileAtomic(file: string, data: Buffer): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, file);
  } finally {
    await rm(tmp, { force: true });
  }
}
