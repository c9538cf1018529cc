import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SnapshotManifest } from "../../src/snapshot/manifest.js";
import { findBase } from "../../src/snapshot/rules.js";
import { fakeMetadata } from "../helpers.js";

// Kelpie's version rules against a store of metadata.json files (no artifacts needed).
const home = mkdtempSync(path.join(os.tmpdir(), "plinth-rules-"));
const rootfs = (size: number, sha = "a") => ({
  name: "rootfs.ext4",
  kind: "rootfs",
  size,
  sha256: sha.repeat(64),
});

function slot(version: string, buildHash: string, arch = "amd64", size = 1000): void {
  const dir = path.join(home, "images", "base", `${version}+${buildHash.slice(0, 12)}`);
  mkdirSync(dir, { recursive: true });
  const meta = {
    ...fakeMetadata({ name: "base", version, buildHash }),
    arch,
    artifacts: [rootfs(size, buildHash[0])],
  };
  writeFileSync(path.join(dir, "metadata.json"), JSON.stringify(meta));
}

function snapshot(
  version: string,
  buildHash: string,
  arch = "amd64",
  size = 1000,
): SnapshotManifest {
  const sum = { size: 1, sha256: "0".repeat(64) };
  return {
    schemaVersion: 1,
    name: "s",
    created: "",
    vm: "v",
    base: { name: "base", version, buildHash, arch, artifacts: [rootfs(size, buildHash[0])] },
    machine: {
      type: "microvm",
      accel: "tcg",
      memMiB: 256,
      cpus: 1,
      cmdline: "",
      net: false,
      extraPorts: [],
    },
    qemu: { version: "7.2.0" },
    agent: { protocol: { major: 1, minor: 2 } },
    files: { state: sum, "disk.qcow2": sum },
  };
}

beforeAll(() => {
  process.env.PLINTH_HOME = home;
  slot("1.2.0", "a".repeat(16));
  slot("1.2.3", "b".repeat(16), "arm64");
  slot("1.2.4", "c".repeat(16), "amd64", 2000);
});
afterAll(() => {
  delete process.env.PLINTH_HOME;
});

describe("findBase", () => {
  it("takes the image by digests, with no warning", async () => {
    const r = await findBase(snapshot("1.2.0", "a".repeat(16)), "7.2.0");
    expect(r.meta.version).toBe("1.2.0");
    expect(r.warnings).toEqual([]);
  });

  it("restores on another PATCH of the same arch and disk size, with a warning", async () => {
    const r = await findBase(snapshot("1.2.9", "d".repeat(16)), "8.0.0");
    expect(r.meta.version).toBe("1.2.0"); // not 1.2.3 (arm64), not 1.2.4 (another size)
    expect(r.warnings[0]).toMatch(
      /taken on base 1\.2\.9; restoring it on base 1\.2\.0 \(same MAJOR\.MINOR, another PATCH\)/,
    );
    expect(r.warnings[1]).toBe("Snapshot s was saved by QEMU 7.2.0; this host has 8.0.0.");
  });

  it("refuses another MAJOR.MINOR, another arch, another disk size, a missing image", async () => {
    await expect(findBase(snapshot("1.3.0", "d".repeat(16)), "7.2.0")).rejects.toMatchObject({
      code: "SNAPSHOT_VERSION",
    });
    await expect(
      findBase(snapshot("1.2.3", "b".repeat(16), "amd64"), "7.2.0"),
    ).rejects.toMatchObject({
      code: "SNAPSHOT_ARCH",
      message: expect.stringMatching(
        /^Can't restore an amd64 snapshot on a different base: base 1\.2\.3 is arm64\.$/,
      ),
    });
    await expect(
      findBase(snapshot("1.2.9", "d".repeat(16), "amd64", 3000), "7.2.0"),
    ).rejects.toMatchObject({ code: "SNAPSHOT_DISK" });
    const other = { ...snapshot("1.2.0", "a".repeat(16)) };
    other.base = { ...other.base, name: "nothere" };
    await expect(findBase(other, "7.2.0")).rejects.toMatchObject({ code: "SNAPSHOT_BASE_MISSING" });
  });
});
