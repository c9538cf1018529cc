import { execFileSync } from "node:child_process";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  truncateSync,
  writeSync,
  closeSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  convertDisk,
  readVmdkDescriptor,
  type ConvertOptions,
  type DiskFormat,
} from "../../src/builder/outputs/convert.js";
import { BuildError, CancelledError } from "../../src/errors.js";
import { sha256File } from "../../src/util/hash.js";
import { makeRawDisk, RAW_BYTES } from "./raw-disk.js";

let work: string;
let raw: string;

beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), "plinth-convert-"));
  raw = makeRawDisk(work);
});

/** Convert into a fresh dir (the file name stays the same: the VMDK's descriptor names it). */
async function convert(format: DiskFormat, opts: ConvertOptions = {}, from = raw): Promise<string> {
  const dir = mkdtempSync(path.join(work, "out-"));
  const out = path.join(dir, `disk.${format}`);
  await convertDisk(from, out, format, opts);
  return out;
}

const qemuImg = (...args: string[]) => execFileSync("qemu-img", args, { encoding: "utf8" });

/** `key = "value"` lines of a VMDK descriptor's disk database. */
function ddb(descriptor: string): Record<string, string> {
  return Object.fromEntries(
    [...descriptor.matchAll(/^(ddb\.\w+(?:\.\w+)*) = "(.*)"$/gm)].map((m) => [m[1]!, m[2]!]),
  );
}

describe("convertDisk", () => {
  it.each(["qcow2", "vmdk"] as const)(
    "makes a %s that holds the raw disk and that qemu-img check finds clean",
    async (format) => {
      const out = await convert(format);
      // compare exits 0 only when the guest sees the same bytes in both.
      expect(qemuImg("compare", "-f", "raw", "-F", format, raw, out)).toContain("identical");
      expect(qemuImg("check", "-f", format, out)).toContain("No errors");
      const info = JSON.parse(qemuImg("info", "--output=json", "-f", format, out));
      expect(info["virtual-size"]).toBe(RAW_BYTES);
    },
  );

  it("makes a streamOptimized VMDK with the adapter type and hardware version the OVF and VMX use", async () => {
    const out = await convert("vmdk");
    const info = JSON.parse(qemuImg("info", "--output=json", out));
    expect(info["format-specific"].data["create-type"]).toBe("streamOptimized");
    expect(info["format-specific"].data.extents[0].compressed).toBe(true);
    const descriptor = await readVmdkDescriptor(out);
    expect(ddb(descriptor)).toMatchObject({
      "ddb.adapterType": "lsilogic",
      "ddb.virtualHWVersion": "19",
    });
    // The extent is named for the final file, not the temp one it was written as.
    expect(descriptor).toMatch(/^RW \d+ SPARSE "disk\.vmdk"$/m);
    expect(descriptor).toMatch(/^CID=[0-9a-f]{8}$/m);
    // qemu-img reads the CID we wrote.
    const cid = /^CID=([0-9a-f]{8})$/m.exec(descriptor)![1]!;
    expect(info["format-specific"].data.cid).toBe(parseInt(cid, 16));
  });

  it("makes a monolithicSparse VMDK on request, for a VMX to run in place", async () => {
    const out = await convert("vmdk", { vmdkSubformat: "monolithicSparse" });
    const info = JSON.parse(qemuImg("info", "--output=json", out));
    expect(info["format-specific"].data["create-type"]).toBe("monolithicSparse");
    expect(qemuImg("compare", "-f", "raw", "-F", "vmdk", raw, out)).toContain("identical");
    expect(qemuImg("check", "-f", "vmdk", out)).toContain("No errors");
  });

  it.each([
    ["qcow2", {}],
    ["vmdk", {}],
    ["vmdk", { vmdkSubformat: "monolithicSparse" }],
  ] as [DiskFormat, ConvertOptions][])(
    "gives byte-identical %s files for the same raw disk (%o)",
    async (format, opts) => {
      const [a, b] = [await convert(format, opts), await convert(format, opts)];
      expect(await sha256File(a)).toBe(await sha256File(b));
    },
  );

  it("gives the VMDK another CID when the disk's content differs", async () => {
    const other = path.join(work, "other.raw");
    copyFileSync(raw, other);
    const fd = openSync(other, "r+");
    writeSync(fd, Buffer.from("changed"), 0, 7, 40 * 1024 * 1024);
    closeSync(fd);
    const cid = async (file: string) => /^CID=(\w+)$/m.exec(await readVmdkDescriptor(file))![1];
    expect(await cid(await convert("vmdk", {}, other))).not.toBe(await cid(await convert("vmdk")));
  });

  it("refuses a raw image that is not a whole number of sectors", async () => {
    const odd = path.join(work, "odd.raw");
    copyFileSync(raw, odd);
    truncateSync(odd, RAW_BYTES + 100);
    await expect(convert("qcow2", {}, odd)).rejects.toBeInstanceOf(BuildError);
  });

  it("leaves nothing behind when cancelled", async () => {
    const dir = path.join(work, "cancelled");
    mkdirSync(dir);
    const out = path.join(dir, "disk.vmdk");
    const signal = AbortSignal.abort();
    await expect(convertDisk(raw, out, "vmdk", { signal })).rejects.toBeInstanceOf(CancelledError);
    expect(readdirSync(dir)).toEqual([]);
  });
});
