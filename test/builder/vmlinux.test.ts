import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, readdir, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { describe, expect, it } from "vitest";
import { extractVmlinux } from "../../src/builder/outputs/vmlinux.js";

/**
 * A tiny ELF64 executable: header, one PT_LOAD program header, and `body` as its segment.
 * Enough for the checks a decompressed kernel must pass, and small enough to compress fast.
 */
function tinyElf(machine = 62, body = pseudoRandom(64 * 1024, 7)): Buffer {
  const h = Buffer.alloc(64 + 56);
  h.writeUInt32BE(0x7f454c46, 0);
  h[4] = 2; // ELFCLASS64
  h[5] = 1; // little-endian
  h[6] = 1; // EV_CURRENT
  h.writeUInt16LE(2, 16); // ET_EXEC
  h.writeUInt16LE(machine, 18);
  h.writeUInt32LE(1, 20);
  h.writeBigUInt64LE(0x1000000n, 24); // e_entry
  h.writeBigUInt64LE(64n, 32); // e_phoff
  h.writeUInt16LE(64, 52); // e_ehsize
  h.writeUInt16LE(56, 54); // e_phentsize
  h.writeUInt16LE(1, 56); // e_phnum
  h.writeUInt16LE(64, 58); // e_shentsize
  const p = 64;
  h.writeUInt32LE(1, p); // PT_LOAD
  h.writeUInt32LE(5, p + 4); // R+X
  h.writeBigUInt64LE(BigInt(h.length), p + 8); // p_offset
  h.writeBigUInt64LE(0x1000000n, p + 16);
  h.writeBigUInt64LE(0x1000000n, p + 24);
  h.writeBigUInt64LE(BigInt(body.length), p + 32); // p_filesz
  h.writeBigUInt64LE(BigInt(body.length), p + 40);
  h.writeBigUInt64LE(0x200000n, p + 48);
  return Buffer.concat([h, body]);
}

/** Bytes that compress a little, the same on every run, and hold no compressor magic. */
function pseudoRandom(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = (x >>> 24) % 16; // low nibbles: no 0x1f, 0x28, 0x42, 0x5d, 0xfd…
  }
  return out;
}

const compress = (argv: string[], data: Buffer) =>
  execFileSync(argv[0]!, argv.slice(1), { input: data, maxBuffer: 1 << 28, stdio: "pipe" });

/** The compressors a kernel build uses (arch/x86/boot/compressed), as their CLI spells them. */
const FORMATS: Record<string, (data: Buffer) => Buffer> = {
  gzip: (d) => zlib.gzipSync(d, { level: 9 }),
  xz: (d) => compress(["xz", "-c", "--check=crc32", "--x86", "--lzma2=preset=6"], d),
  zstd: (d) => compress(["zstd", "-c"], d),
  lzma: (d) => compress(["xz", "-c", "--format=lzma", "-9"], d),
  bzip2: (d) => compress(["bzip2", "-c", "-9"], d),
  lz4: (d) => compress(["lz4", "-c", "-l", "-9"], d), // -l: the legacy frame the kernel uses
};

/** A fake "bzImage": setup-code junk, the payload, the kernel's le32 size, and more junk. */
function fakeBzImage(payload: Buffer, uncompressed: number): Buffer {
  const size = Buffer.alloc(4);
  size.writeUInt32LE(uncompressed);
  return Buffer.concat([pseudoRandom(20_000, 1), payload, size, pseudoRandom(3000, 2)]);
}

/**
 * A bzImage with a real setup header (boot protocol 2.15) whose payload_offset and
 * payload_length point at `payload`, placed after `before`.
 */
function bzImageWithHeader(before: Buffer, payload: Buffer): Buffer {
  const setupSects = 3;
  const setup = Buffer.alloc((setupSects + 1) * 512);
  setup[0x1f1] = setupSects;
  setup.writeUInt16LE(0xaa55, 0x1fe);
  setup.write("HdrS", 0x202, "latin1");
  setup.writeUInt16LE(0x020f, 0x206);
  setup.writeUInt32LE(before.length, 0x248);
  setup.writeUInt32LE(payload.length, 0x24c);
  return Buffer.concat([setup, before, payload, pseudoRandom(1000, 3)]);
}

// Under the run's own temp dir (test/global-setup.ts), removed when the run ends.
const tempDir = () => mkdtemp(path.join(os.tmpdir(), "plinth-vmlinux-"));

async function extract(image: Buffer, opts: { signal?: AbortSignal } = {}) {
  const dir = await tempDir();
  const vmlinuz = path.join(dir, "vmlinuz");
  const out = path.join(dir, "vmlinux");
  await writeFile(vmlinuz, image);
  await extractVmlinux(vmlinuz, out, opts);
  return { dir, out, bytes: await readFile(out) };
}

describe("extractVmlinux: synthetic bzImages", () => {
  const elf = tinyElf();

  for (const [name, pack] of Object.entries(FORMATS)) {
    it(`finds and unpacks a ${name} payload between junk, trailing bytes and all`, async () => {
      const { bytes, dir } = await extract(fakeBzImage(pack(elf), elf.length));
      expect(bytes.equals(elf)).toBe(true);
      expect(await readdir(dir)).toEqual(["vmlinux", "vmlinuz"]); // no temp file left
    });
  }

  it("passes over stray magics of every format to the payload that is a kernel", async () => {
    // What a bzImage's setup code and decompressor hold by chance: each magic, then junk.
    const magics = ["1f8b08", "fd377a585a00", "28b52ffd", "5d000000", "425a68", "02214c18"];
    const stray = magics.flatMap((m) => [Buffer.from(m, "hex"), pseudoRandom(300, 12)]);
    const image = Buffer.concat([...stray, fakeBzImage(FORMATS.lz4!(elf), elf.length)]);
    const { bytes } = await extract(image);
    expect(bytes.equals(elf)).toBe(true);
  });

  it("follows the setup header's payload_offset before any stray magic", async () => {
    // A scan meets the gzip'd decoy first (gzip is tried first and sits earlier): only the
    // header leads to the lz4 payload, which is a different kernel.
    const decoy = tinyElf(62, pseudoRandom(4096, 9));
    const real = tinyElf(62, pseudoRandom(8192, 11));
    const before = Buffer.concat([pseudoRandom(500, 4), FORMATS.gzip!(decoy)]);
    const { bytes } = await extract(bzImageWithHeader(before, FORMATS.lz4!(real)));
    expect(bytes.equals(real)).toBe(true);
  });

  it("copies a kernel that is already an uncompressed vmlinux", async () => {
    const { bytes } = await extract(elf);
    expect(bytes.equals(elf)).toBe(true);
  });

  it("accepts an aarch64 ELF kernel", async () => {
    const arm = tinyElf(183);
    const { bytes } = await extract(fakeBzImage(FORMATS.zstd!(arm), arm.length));
    expect(bytes.readUInt16LE(18)).toBe(183);
  });

  it("refuses a payload cut short, though what it unpacks to starts with \\x7fELF", async () => {
    const big = tinyElf(62, pseudoRandom(1 << 20, 10));
    const packed = FORMATS.xz!(big);
    const cut = packed.subarray(0, packed.length / 2);
    // xz itself writes what it could decode: a header, then too little of the segment.
    const partial = (() => {
      try {
        return compress(["xz", "-dc"], cut);
      } catch (error) {
        return (error as { stdout: Buffer }).stdout;
      }
    })();
    expect(partial.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
    expect(partial.length).toBeLessThan(big.length);
    const image = Buffer.concat([pseudoRandom(1000, 5), cut]);
    await expect(extract(image)).rejects.toMatchObject({ code: "UNSUPPORTED" });
  });

  it("refuses an ELF for another machine (32-bit ARM)", async () => {
    const arm32 = tinyElf(40);
    await expect(extract(fakeBzImage(FORMATS.gzip!(arm32), arm32.length))).rejects.toMatchObject({
      code: "UNSUPPORTED",
    });
  });

  it("a file with no payload: one clear UserError, and no vmlinux or temp file", async () => {
    const dir = await tempDir();
    const vmlinuz = path.join(dir, "vmlinuz");
    await writeFile(vmlinuz, pseudoRandom(50_000, 6));
    const failing = extractVmlinux(vmlinuz, path.join(dir, "vmlinux"), {});
    await expect(failing).rejects.toMatchObject({
      name: "UnsupportedError",
      code: "UNSUPPORTED",
      message: `${vmlinuz} holds no gzip, xz, zstd, lzma, bzip2 or lz4 payload that unpacks to an x86-64 or aarch64 ELF kernel.`,
    });
    expect(await readdir(dir)).toEqual(["vmlinuz"]);
  });

  it("the tool the header names is missing: MissingToolError naming it", async () => {
    const image = bzImageWithHeader(pseudoRandom(100, 8), FORMATS.lz4!(elf));
    const saved = process.env.PATH;
    process.env.PATH = "/nonexistent";
    try {
      await expect(extract(image)).rejects.toMatchObject({ code: "TOOL_MISSING", tools: ["lz4"] });
    } finally {
      process.env.PATH = saved;
    }
  });

  it("stops when cancelled", async () => {
    const controller = new AbortController();
    controller.abort();
    const image = fakeBzImage(FORMATS.xz!(elf), elf.length);
    await expect(extract(image, { signal: controller.signal })).rejects.toMatchObject({
      code: "CANCELLED",
    });
  });
});
