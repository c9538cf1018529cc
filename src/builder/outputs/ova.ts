import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { pack as tarPack } from "tar-stream";
import { addBuffer, addFile, type EntryHeader } from "../../util/tar.js";
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
