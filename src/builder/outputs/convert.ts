import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, open, rename, rm, stat, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { BuildError, CancelledError } from "../../errors.js";
import { run } from "../../host/exec.js";
import { VMDK_ADAPTER_TYPE, VMWARE_HW_VERSION } from "./vmware-hardware.js";

export type DiskFormat = "qcow2" | "vmdk";

const SECTOR = 512;

/**
 * A VMDK is streamOptimized (compressed, grain after grain: a transport format, the one
 * OVF packages, OVAs and vSphere imports carry) or monolithicSparse (one growable file,
 * the hosted products' own format, which Workstation, Fusion and Player run in place).
 */
export type VmdkSubformat = "streamOptimized" | "monolithicSparse";

export interface ConvertOptions {
  /** Default streamOptimized. */
  vmdkSubformat?: VmdkSubformat;
  signal?: AbortSignal;
}

/**
 * qemu-img's options per format. Everything that shapes the bytes is spelled out rather
 * than left to qemu's defaults, so a qemu-img with other defaults still gives the same
 * file. qcow2: compressed clusters, zlib (readable by any qemu; zstd needs 5.1+).
 */
function formatOptions(format: DiskFormat, vmdk: VmdkSubformat): string[] {
  if (format === "qcow2")
    return ["-c", "-o", "compat=1.1,cluster_size=65536,compression_type=zlib"];
  return [
    "-o",
    `subformat=${vmdk},adapter_type=${VMDK_ADAPTER_TYPE},hwversion=${VMWARE_HW_VERSION}`,
  ];
}

/**
 * Convert a raw disk image to compressed qcow2 or a VMDK, bit-identically for equal
 * inputs. qemu-img places clusters and grains in the order it writes them, and without
 * `-W` it writes them strictly in disk order, one at a time, however many coroutines
 * read ahead (`-m`, 8 by default: measured, a 1 GiB disk gives the same bytes with
 * `-m 1`, in more than twice the time for a VMDK). The VMDK's random CID is then replaced
 * by one derived from its content (see pinDescriptor). Written in a temp dir beside
 * `out` and renamed into place.
 */
export async function convertDisk(
  raw: string,
  out: string,
  format: DiskFormat,
  opts: ConvertOptions = {},
): Promise<void> {
  const stage = format;
  const { size } = await stat(raw);
  if (size % SECTOR !== 0)
    throw new BuildError(stage, `${raw} is ${size} bytes, not a whole number of sectors.`);
  // The file inside has out's own name: the VMDK's descriptor names its extent file, and
  // qemu-img writes the name it was given.
  const dir = await mkdtemp(path.join(path.dirname(out), `.${path.basename(out)}-`));
  const tmp = path.join(dir, path.basename(out));
  const options = formatOptions(format, opts.vmdkSubformat ?? "streamOptimized");
  try {
    await run(["qemu-img", "convert", "-f", "raw", "-O", format, ...options, raw, tmp], {
      stage,
      signal: opts.signal,
    });
    if (format === "vmdk") await pinDescriptor(tmp, opts.signal);
    await rename(tmp, out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

interface Descriptor {
  /** Where its sectors are, in bytes. */
  offset: number;
  length: number;
  /** The text, without the NUL padding after it. */
  text: string;
}

/** A sparse VMDK's embedded text descriptor. */
async function descriptorOf(fh: FileHandle, file: string): Promise<Descriptor> {
  const header = Buffer.alloc(SECTOR);
  await fh.read(header, 0, SECTOR, 0);
  // SparseExtentHeader: magic "KDMV", then descriptorOffset and descriptorSize (in
  // sectors, little-endian uint64) at bytes 28 and 36.
  if (header.toString("latin1", 0, 4) !== "KDMV")
    throw new BuildError("vmdk", `${file} has no sparse VMDK header.`);
  const offset = Number(header.readBigUInt64LE(28)) * SECTOR;
  const length = Number(header.readBigUInt64LE(36)) * SECTOR;
  if (offset === 0 || length === 0)
    throw new BuildError("vmdk", `${file} has no embedded descriptor.`);
  const region = Buffer.alloc(length);
  await fh.read(region, 0, length, offset);
  const end = region.indexOf(0);
  return { offset, length, text: region.toString("utf8", 0, end === -1 ? length : end) };
}

/** The text descriptor embedded in a sparse (e.g. streamOptimized) VMDK. */
export async function readVmdkDescriptor(file: string): Promise<string> {
  const fh = await open(file, "r");
  try {
    return (await descriptorOf(fh, file)).text;
  } finally {
    await fh.close();
  }
}

const CID_LINE = /^CID=[0-9a-f]+$/m;

/**
 * qemu-img gives every VMDK a random CID (content ID) when it creates it and again on
 * its first write, printed without leading zeros, so the text after it shifts too, and
 * a shorter CID leaves the old text's tail behind the NUL: the only bytes that differ
 * between two conversions. Replace it, in place, by the first 32 bits of the sha256 of
 * everything but the descriptor (header, grain tables, grains, footer): equal content,
 * equal CID, as the field means. The descriptor keeps its sectors; the text is
 * rewritten and NUL-padded.
 */
async function pinDescriptor(file: string, signal?: AbortSignal): Promise<void> {
  const fh = await open(file, "r+");
  try {
    const { offset, length, text } = await descriptorOf(fh, file);
    if (!CID_LINE.test(text))
      throw new BuildError("vmdk", "the descriptor qemu-img wrote has no CID line.");
    let cid = (await hashOutside(file, offset, offset + length, signal)).slice(0, 8);
    // ffffffff is what a parentCID says for "no parent": never a disk's own CID.
    if (cid === "ffffffff") cid = "fffffffe";
    const pinned = Buffer.alloc(length);
    const used = pinned.write(text.replace(CID_LINE, `CID=${cid}`), "utf8");
    if (used >= length) throw new BuildError("vmdk", "the descriptor outgrew its sectors.");
    await fh.write(pinned, 0, length, offset);
  } finally {
    await fh.close();
  }
}

/** sha256 of a file without the bytes [from, to). */
async function hashOutside(
  file: string,
  from: number,
  to: number,
  signal?: AbortSignal,
): Promise<string> {
  const h = createHash("sha256");
  const ranges = [{ start: 0, end: from - 1 }, { start: to }];
  try {
    for (const range of ranges)
      for await (const chunk of createReadStream(file, {
        ...range,
        highWaterMark: 1 << 20,
        signal,
      }))
        h.update(chunk as Buffer);
  } catch (error) {
    if (signal?.aborted) throw new CancelledError("vmdk");
    throw error;
  }
  return h.digest("hex");
}
