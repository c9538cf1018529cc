import { randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fileSum, type SnapshotManifest } from "../../src/snapshot/manifest.js";
import { exportSnapshot, importSnapshot } from "../../src/snapshot/package.js";

// Packages without QEMU: a snapshot dir of made-up bytes with a true snapshot.json.
const home = mkdtempSync(path.join(os.tmpdir(), "plinth-pkg-"));
const dir = path.join(home, "made");

beforeAll(async () => {
  process.env.PLINTH_HOME = path.join(home, "store");
  mkdirSync(dir);
  writeFileSync(path.join(dir, "state"), randomBytes(300_000));
  writeFileSync(path.join(dir, "disk.qcow2"), randomBytes(70_000));
  const manifest: SnapshotManifest = {
    schemaVersion: 1,
    name: "made",
    created: new Date().toISOString(),
    vm: "v",
    base: {
      name: "minimal",
      version: "0.1.0",
      buildHash: "a".repeat(16),
      arch: "amd64",
      artifacts: [],
    },
    machine: {
      type: "microvm",
      accel: "tcg",
      memMiB: 256,
      cpus: 1,
      cmdline: "console=ttyS0",
      net: false,
      extraPorts: [],
    },
    qemu: { version: "7.2.0" },
    agent: { protocol: { major: 1, minor: 2 } },
    files: {
      state: await fileSum(path.join(dir, "state")),
      "disk.qcow2": await fileSum(path.join(dir, "disk.qcow2")),
    },
  };
  writeFileSync(path.join(dir, "snapshot.json"), JSON.stringify(manifest));
});
afterAll(() => {
  delete process.env.PLINTH_HOME;
});

describe("snapshot packages", () => {
  it("export → import lands the same files in the store, and refuses a second import of the name", async () => {
    const file = path.join(home, "made.pkg");
    await exportSnapshot(dir, file);
    const r = await importSnapshot(file);
    expect(r.dir).toBe(path.join(home, "store", "snapshots", "made"));
    for (const f of ["state", "disk.qcow2", "snapshot.json"])
      expect(readFileSync(path.join(r.dir, f)).equals(readFileSync(path.join(dir, f)))).toBe(true);
    expect(readdirSync(r.dir).sort()).toEqual(["disk.qcow2", "snapshot.json", "state"]);
    await expect(importSnapshot(file)).rejects.toMatchObject({ code: "SNAPSHOT_EXISTS" });
  });

  it("refuses a package with a changed byte, and leaves nothing in the store", async () => {
    const file = path.join(home, "bad.pkg");
    await exportSnapshot(dir, file);
    const bytes = readFileSync(file);
    bytes[2048]! ^= 0xff; // inside the first member (snapshot.json is small: the state follows)
    bytes[200_000]! ^= 0xff;
    writeFileSync(file, bytes);
    await expect(importSnapshot(file, { name: "bad" })).rejects.toMatchObject({
      code: expect.stringMatching(/PACKAGE_CORRUPT|SNAPSHOT_CORRUPT|STATE_CORRUPT/),
    });
    expect(existsSync(path.join(home, "store", "snapshots", "bad"))).toBe(false);
    expect(
      readdirSync(path.join(home, "store", "snapshots")).filter((e) => e.startsWith(".")),
    ).toEqual([]);
  });

  it("refuses a tar that is not a snapshot package", async () => {
    const file = path.join(home, "other.tar");
    const { pack } = await import("tar-stream");
    const p = pack();
    p.entry({ name: "../escape" }, "x");
    p.finalize();
    const chunks: Buffer[] = [];
    for await (const c of p) chunks.push(c as Buffer);
    writeFileSync(file, Buffer.concat(chunks));
    await expect(importSnapshot(file, { name: "other" })).rejects.toMatchObject({
      code: "PACKAGE_CORRUPT",
    });
    expect(existsSync(path.join(home, "store", "escape"))).toBe(false);
  });

  it("refuses to export over nothing but a whole snapshot", async () => {
    writeFileSync(path.join(home, "cut-state"), "");
    const cut = path.join(home, "cut");
    mkdirSync(cut);
    writeFileSync(path.join(cut, "snapshot.json"), readFileSync(path.join(dir, "snapshot.json")));
    writeFileSync(path.join(cut, "state"), randomBytes(10));
    writeFileSync(path.join(cut, "disk.qcow2"), readFileSync(path.join(dir, "disk.qcow2")));
    await expect(exportSnapshot(cut, path.join(home, "cut.pkg"))).rejects.toThrow(
      /state is 10 bytes, not 300000/,
    );
    expect(existsSync(path.join(home, "cut.pkg"))).toBe(false);
  });
});
