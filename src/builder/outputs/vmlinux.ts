import { randomUUID } from "node:crypto";
import { copyFile, open, readFile, rename, rm, writeFile } from "node:fs/promises";
import zlib from "node:zlib";
import { CancelledError, MissingToolError, ToolError, UnsupportedError } from "../../errors.js";
import { run } from "../../host/exec.js";
import { which } from "../../host/tools.js";

/**
 * Firecracker boots only an uncompressed ELF kernel, and distributions ship a bzImage
 * (`vmlinuz`): setup code, a decompressor stub and the compressed ELF. This unpacks it as
 * the kernel's scripts/extract-vmlinux does: find a compressed payload, decompress it, and
 * keep the result only if it is an ELF kernel.
 */

const STAGE = "vmlinux";

interface Format {
  name: string;
  magic: Buffer;
  /** The decompressor, reading stdin and writing stdout; none for gzip (node's zlib). */
  argv?: string[];
}

// In the order they are tried. `--single-stream` lets xz ignore what follows the payload;
// the others may fail on it after writing everything, which the ELF check below settles.
const FORMATS: Format[] = [
  { name: "gzip", magic: Buffer.from("1f8b08", "hex") },
  { name: "xz", magic: Buffer.from("fd377a585a00", "hex"), argv: ["xz", "-dc", "--single-stream"] },
  { name: "zstd", magic: Buffer.from("28b52ffd", "hex"), argv: ["zstd", "-dc"] },
  {
    name: "lzma",
    magic: Buffer.from("5d000000", "hex"),
    argv: ["xz", "-dc", "--format=lzma", "--single-stream"],
  },
  { name: "bzip2", magic: Buffer.from("425a68", "hex"), argv: ["bzip2", "-dc"] },
  { name: "lz4", magic: Buffer.from("02214c18", "hex"), argv: ["lz4", "-dc"] },
];

/** x86-64 and aarch64: the machines Firecracker runs. */
const ELF_MACHINES = new Set([62, 183]);
/** More than any stripped kernel unpacks to: a stray gzip magic cannot fill the memory. */
const MAX_GZIP_OUTPUT = 1 << 30;

interface Candidate {
  format: Format;
  start: number;
  end: number;
  /** Named by the bzImage header, not found by scanning: its format is the kernel's. */
  fromHeader: boolean;
}

/**
 * Write the uncompressed ELF kernel inside `vmlinuz` (a bzImage, or already a vmlinux) to
 * `out`, through a temp file beside it, so `out` is either complete or untouched.
 */
export async function extractVmlinux(
  vmlinuz: string,
  out: string,
  opts: { signal?: AbortSignal } = {},
): Promise<void> {
  const { signal } = opts;
  const image = await readFile(vmlinuz);
  const tmp = `${out}.${randomUUID().slice(0, 8)}.tmp`;
  try {
    if (await isElfKernel(bufferReader(image), image.length)) {
      await copyFile(vmlinuz, tmp);
    } else {
      await unpack(vmlinuz, image, tmp, signal);
    }
    await rename(tmp, out);
  } finally {
    await rm(tmp, { force: true });
  }
}

async function unpack(vmlinuz: string, image: Buffer, tmp: string, signal?: AbortSignal) {
  const missing = new Set<string>();
  // The header's candidate failing is the real story; a stray magic failing is not.
  let headerFailure: unknown;
  for (const c of candidates(image)) {
    if (signal?.aborted) throw new CancelledError(STAGE);
    const tool = c.format.argv?.[0];
    if (tool && !which(tool)) {
      // The header names the kernel's own compression: nothing else will do.
      if (c.fromHeader) throw new MissingToolError([tool]);
      missing.add(tool);
      continue;
    }
    try {
      if (await decompress(image, c, tmp, signal)) return;
    } catch (error) {
      if (!(error instanceof ToolError)) throw error;
      if (c.fromHeader) headerFailure = error;
    }
  }
  if (headerFailure) throw headerFailure;
  if (missing.size) throw new MissingToolError([...missing]);
  const names = FORMATS.map((f) => f.name);
  throw new UnsupportedError(
    `${vmlinuz} holds no ${names.slice(0, -1).join(", ")} or ${names.at(-1)} payload that unpacks to an x86-64 or aarch64 ELF kernel.`,
    "Firecracker boots only an uncompressed vmlinux: use a kernel compressed with one of these, or give the vmlinux itself.",
  );
}

/**
 * Where the payload may be. First the exact place the x86 boot protocol (2.08+) records
 * in the setup header; then, as extract-vmlinux does, every offset where a format's magic
 * occurs, format by format, each running to the end of the file.
 */
function* candidates(image: Buffer): Generator<Candidate> {
  const exact = headerPayload(image);
  const format = exact && FORMATS.find((f) => startsWith(image, f.magic, exact.start));
  if (exact && format) yield { format, ...exact, fromHeader: true };
  for (const f of FORMATS) {
    for (let at = image.indexOf(f.magic); at !== -1; at = image.indexOf(f.magic, at + 1)) {
      if (f === format && at === exact?.start) continue;
      yield { format: f, start: at, end: image.length, fromHeader: false };
    }
  }
}

/** The compressed kernel's bounds from a bzImage's setup header, when it has them. */
function headerPayload(image: Buffer): { start: number; end: number } | undefined {
  if (image.length < 0x250 || image.toString("latin1", 0x202, 0x206) !== "HdrS") return;
  if (image.readUInt16LE(0x206) < 0x208) return; // payload_offset is in protocol 2.08+
  const setupSects = image[0x1f1] || 4; // 0 means 4, for old bootloaders
  const start = (setupSects + 1) * 512 + image.readUInt32LE(0x248);
  const end = start + image.readUInt32LE(0x24c);
  return end <= image.length && start < end ? { start, end } : undefined;
}

/** Decompress one candidate into `tmp`; whether that gave an ELF kernel. */
async function decompress(image: Buffer, c: Candidate, tmp: string, signal?: AbortSignal) {
  const input = image.subarray(c.start, c.end);
  if (!c.format.argv) {
    const elf = await gunzip(input);
    if (!elf || !(await isElfKernel(bufferReader(elf), elf.length))) return false;
    await writeFile(tmp, elf);
    return true;
  }
  let failure: ToolError | undefined;
  try {
    await run(c.format.argv, { stage: STAGE, signal, input, stdoutFile: tmp });
  } catch (error) {
    if (!(error instanceof ToolError)) throw error;
    failure = error;
  }
  const file = await open(tmp, "r");
  try {
    const { size } = await file.stat();
    const read = async (pos: number, len: number) => {
      const buf = Buffer.alloc(len);
      const { bytesRead } = await file.read(buf, 0, len, pos);
      return buf.subarray(0, bytesRead);
    };
    if (await isElfKernel(read, size)) return true;
  } finally {
    await file.close();
  }
  if (failure) throw failure;
  return false;
}

/**
 * One gzip member, by hand: node's gunzip refuses what follows the member (the rest of the
 * bzImage), raw inflate stops at the end of the deflate stream and says where that was, so
 * the trailer's CRC and length can be checked.
 */
async function gunzip(gz: Buffer): Promise<Buffer | undefined> {
  const flags = gz[3] ?? 0xff;
  if (gz.length < 18 || flags & 0xe0) return; // reserved flag bits set: not gzip
  let at = 10;
  if (flags & 4) at += 2 + gz.readUInt16LE(at); // FEXTRA
  for (const bit of [8, 16]) if (flags & bit) at = gz.indexOf(0, at) + 1; // FNAME, FCOMMENT
  if (flags & 2) at += 2; // FHCRC
  if (at <= 0 || at >= gz.length) return;
  const inflated = await new Promise<{ buffer: Buffer; engine: zlib.InflateRaw } | undefined>(
    (resolve) =>
      zlib.inflateRaw(gz.subarray(at), { info: true, maxOutputLength: MAX_GZIP_OUTPUT }, (e, r) =>
        resolve(e ? undefined : (r as unknown as { buffer: Buffer; engine: zlib.InflateRaw })),
      ),
  );
  if (!inflated) return;
  const trailer = at + inflated.engine.bytesWritten;
  if (trailer + 8 > gz.length) return;
  const { buffer } = inflated;
  const crcOk = gz.readUInt32LE(trailer) === zlib.crc32(buffer);
  const sizeOk = gz.readUInt32LE(trailer + 4) === buffer.length % 2 ** 32;
  return crcOk && sizeOk ? buffer : undefined;
}

type Reader = (pos: number, len: number) => Promise<Buffer>;

const bufferReader =
  (buf: Buffer): Reader =>
  async (pos, len) =>
    buf.subarray(pos, pos + len);

/**
 * An ELF64 little-endian x86-64 or aarch64 executable whose program headers, and every
 * loadable segment, lie inside the file: a decompressor that stopped early leaves a file
 * whose header is fine but whose segments run past its end.
 */
async function isElfKernel(read: Reader, size: number): Promise<boolean> {
  if (size < 64) return false;
  const h = await read(0, 64);
  if (h.length < 64 || h.readUInt32BE(0) !== 0x7f454c46) return false;
  if (h[4] !== 2 || h[5] !== 1) return false; // ELFCLASS64, ELFDATA2LSB
  if (!ELF_MACHINES.has(h.readUInt16LE(18))) return false;
  const phoff = Number(h.readBigUInt64LE(32));
  const phentsize = h.readUInt16LE(54);
  const phnum = h.readUInt16LE(56);
  if (phentsize !== 56 || phnum === 0 || phoff + phnum * phentsize > size) return false;
  const ph = await read(phoff, phnum * phentsize);
  let loads = 0;
  for (let i = 0; i < phnum; i++) {
    const p = i * phentsize;
    if (ph.readUInt32LE(p) !== 1) continue; // PT_LOAD
    loads++;
    if (Number(ph.readBigUInt64LE(p + 8)) + Number(ph.readBigUInt64LE(p + 32)) > size) return false;
  }
  return loads > 0;
}

function startsWith(buf: Buffer, magic: Buffer, at: number): boolean {
  return buf.subarray(at, at + magic.length).equals(magic);
}
