import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { convertDisk } from "../../src/builder/outputs/convert.js";
import { writeOva } from "../../src/builder/outputs/ova.js";
import { ovfDescriptor } from "../../src/builder/outputs/ovf.js";
import { vmwareGuest } from "../../src/builder/outputs/vmware-hardware.js";
import { CancelledError } from "../../src/errors.js";
import { sha256File } from "../../src/util/hash.js";
import { parseOvf, type Item, type Node } from "./ovf-parse.js";
import { makeRawDisk, RAW_BYTES } from "./raw-disk.js";

const EPOCH = 1764633600; // 2025-12-02T00:00:00Z
let dir: string;

/** An image dir as the build would leave it: the VMDK and its OVF. */
beforeAll(async () => {
  const work = mkdtempSync(path.join(os.tmpdir(), "plinth-ova-"));
  const raw = makeRawDisk(work);
  dir = path.join(work, "image");
  mkdirSync(dir);
  const vmdk = path.join(dir, "devbox.vmdk");
  await convertDisk(raw, vmdk, "vmdk");
  const ovf = ovfDescriptor({
    name: "devbox",
    version: "0.1.0-20251202-75913bb",
    vmdkFile: "devbox.vmdk",
    vmdkSize: statSync(vmdk).size,
    capacityBytes: statSync(raw).size,
    cpus: 2,
    memMiB: 2048,
    os: vmwareGuest("debian"),
  });
  writeFileSync(path.join(dir, "devbox.ovf"), ovf);
});

async function ova(name = "devbox.ova"): Promise<string> {
  const out = path.join(path.dirname(dir), name);
  await writeOva(dir, out, { ovf: "devbox.ovf", vmdk: "devbox.vmdk", mtime: EPOCH });
  return out;
}

interface TarHeader {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  type: string;
  magic: string;
  uname: string;
  gname: string;
}

/** The archive's headers, read by hand from the ustar blocks (no tar library in between). */
function tarHeaders(file: string): TarHeader[] {
  const buf = readFileSync(file);
  const str = (at: number, len: number) =>
    buf.toString("latin1", at, at + len).replace(/\0.*$/s, "");
  const oct = (at: number, len: number) => parseInt(str(at, len).trim(), 8);
  const headers: TarHeader[] = [];
  for (let at = 0; at + 512 <= buf.length && buf[at] !== 0;) {
    const h = {
      name: str(at, 100),
      mode: oct(at + 100, 8),
      uid: oct(at + 108, 8),
      gid: oct(at + 116, 8),
      size: oct(at + 124, 12),
      mtime: oct(at + 136, 12),
      type: str(at + 156, 1),
      magic: buf.toString("latin1", at + 257, at + 265),
      uname: str(at + 265, 32),
      gname: str(at + 297, 32),
    };
    headers.push(h);
    at += 512 + Math.ceil(h.size / 512) * 512;
  }
  return headers;
}

describe("writeOva", () => {
  it("archives the .ovf first, then the .vmdk, then the manifest, as plain ustar members", async () => {
    const out = await ova();
    // GNU tar reads it, in this order.
    const listed = execFileSync("tar", ["-tf", out], { encoding: "utf8" });
    expect(listed.trim().split("\n")).toEqual(["devbox.ovf", "devbox.vmdk", "devbox.mf"]);
    for (const h of tarHeaders(out)) {
      expect(h).toMatchObject({ type: "0", magic: "ustar\u000000", mode: 0o644, uid: 0, gid: 0 });
      expect(h).toMatchObject({ mtime: EPOCH, uname: "", gname: "" });
    }
    expect(tarHeaders(out).map((h) => h.name)).toEqual(["devbox.ovf", "devbox.vmdk", "devbox.mf"]);
  });

  it("writes a manifest whose every SHA256 line verifies, beside the .ovf and in the OVA", async () => {
    const out = await ova();
    const x = mkdtempSync(path.join(os.tmpdir(), "plinth-ova-x-"));
    execFileSync("tar", ["-xf", out, "-C", x]);
    const mf = readFileSync(path.join(x, "devbox.mf"), "utf8");
    expect(readFileSync(path.join(dir, "devbox.mf"), "utf8")).toBe(mf);
    const lines = mf.trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      const m = /^SHA256\(([^)]+)\)= ([0-9a-f]{64})$/.exec(line);
      expect(m, line).not.toBeNull();
      expect(await sha256File(path.join(x, m![1]!))).toBe(m![2]);
    }
  });

  it("holds every file the OVF references, at the declared size, and the disk's full capacity", async () => {
    const out = await ova();
    const headers = tarHeaders(out);
    const ovf = execFileSync("tar", ["-xOf", out, "devbox.ovf"], { encoding: "utf8" });
    const { envelope } = parseOvf(ovf);
    const files = (envelope.References as Node).File as Item[];
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const member = headers.find((h) => h.name === f["@ovf:href"]);
      expect(member, f["@ovf:href"]).toBeDefined();
      expect(member!.size).toBe(Number(f["@ovf:size"]));
    }
    const disk = ((envelope.DiskSection as Node).Disk as Item[])[0]!;
    expect(Number(disk["@ovf:capacity"])).toBe(RAW_BYTES);
  });

  it("gives byte-identical OVAs for the same inputs", async () => {
    const [a, b] = [await ova("a.ova"), await ova("b.ova")];
    expect(await sha256File(a)).toBe(await sha256File(b));
  });

  it("leaves no temp file behind when cancelled", async () => {
    const outDir = mkdtempSync(path.join(os.tmpdir(), "plinth-ova-c-"));
    const signal = AbortSignal.abort();
    const o = { ovf: "devbox.ovf", vmdk: "devbox.vmdk", mtime: EPOCH, signal };
    await expect(writeOva(dir, path.join(outDir, "x.ova"), o)).rejects.toBeInstanceOf(
      CancelledError,
    );
    expect(readdirSync(outDir)).toEqual([]);
  });

  it("stops cleanly when cancelled while the disk is being archived", async () => {
    const src = mkdtempSync(path.join(os.tmpdir(), "plinth-ova-m-"));
    writeFileSync(path.join(src, "big.ovf"), "<Envelope/>\n");
    writeFileSync(path.join(src, "big.vmdk"), randomBytes(64 * 1024 * 1024));
    const outDir = mkdtempSync(path.join(os.tmpdir(), "plinth-ova-c-"));
    const controller = new AbortController();
    // Abort once the archive has started to grow: mid-way through the 64 MiB member.
    const poll = setInterval(() => {
      const [tmp] = readdirSync(outDir);
      if (tmp && statSync(path.join(outDir, tmp)).size > 1024 * 1024) controller.abort();
    }, 1);
    const o = { ovf: "big.ovf", vmdk: "big.vmdk", mtime: EPOCH, signal: controller.signal };
    try {
      await expect(writeOva(src, path.join(outDir, "x.ova"), o)).rejects.toBeInstanceOf(
        CancelledError,
      );
    } finally {
      clearInterval(poll);
    }
    expect(controller.signal.aborted).toBe(true);
    expect(readdirSync(outDir)).toEqual([]);
    expect(readdirSync(src).sort()).toEqual(["big.ovf", "big.vmdk"]);
  });
});
