import { existsSync, mkdirSync, statSync, utimesSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import lockfile from "proper-lockfile";
import { cacheMaxBytes, DEFAULT_CACHE_MAX, pruneCache } from "../../src/store/cache.js";
import { tempStore } from "./fixtures.js";

const KiB = 1024;
const DAY = 86_400;

describe("pruning the stage cache", () => {
  let store: ReturnType<typeof tempStore>;
  beforeEach(() => {
    store = tempStore();
  });
  afterEach(() => store.restore());

  /** A cache file of `kib` KiB last used (atime) `daysAgo` days ago; mtime a year ago. */
  function file(rel: string, kib: number, daysAgo: number): string {
    const p = path.join(store.cache, rel);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, Buffer.alloc(kib * KiB, 1));
    const now = Date.now() / 1000;
    utimesSync(p, now - daysAgo * DAY, now - 365 * DAY);
    return p;
  }

  it("removes least recently used entries (a tarball with its epoch) until under the cap", async () => {
    file("bootstrap/aaaa.tar", 64, 5);
    file("bootstrap/aaaa.epoch", 4, 0); // the tarball's atime is the entry's
    file("bootstrap/bbbb.tar", 64, 1);
    file("debs/debian-bookworm-amd64/old.deb", 16, 9);
    file("debs/debian-bookworm-amd64/new.deb", 16, 0);
    file("bootstrap/cccc.tar.123.tmp", 64, 30); // a build's temp file: not the cache's
    const dry = await pruneCache({ max: 100 * KiB, dryRun: true });
    expect(dry.removed.map((e) => e.files)).toEqual([
      ["debs/debian-bookworm-amd64/old.deb"],
      ["bootstrap/aaaa.tar", "bootstrap/aaaa.epoch"],
    ]);
    expect(existsSync(path.join(store.cache, "bootstrap/aaaa.tar"))).toBe(true);
    const r = await pruneCache({ max: 100 * KiB });
    expect(r.removed).toEqual(dry.removed);
    expect(r.freedBytes).toBeGreaterThanOrEqual(84 * KiB);
    expect(r.totalBytes).toBeLessThanOrEqual(100 * KiB);
    for (const gone of [
      "bootstrap/aaaa.tar",
      "bootstrap/aaaa.epoch",
      "debs/debian-bookworm-amd64/old.deb",
    ])
      expect(existsSync(path.join(store.cache, gone))).toBe(false);
    for (const kept of [
      "bootstrap/bbbb.tar",
      "debs/debian-bookworm-amd64/new.deb",
      "bootstrap/cccc.tar.123.tmp",
    ])
      expect(existsSync(path.join(store.cache, kept))).toBe(true);
    expect((await pruneCache({ max: 100 * KiB })).removed).toEqual([]); // under the cap: nothing
  });

  it("never removes a tarball a build holds locked, nor debs while a bootstrap runs", async () => {
    const locked = file("bootstrap/aaaa.tar", 64, 9);
    file("bootstrap/bbbb.tar", 64, 5);
    file("debs/debian-bookworm-amd64/x.deb", 16, 7);
    const release = await lockfile.lock(locked, { realpath: false, stale: 30_000 });
    try {
      const r = await pruneCache({ max: 0 });
      expect(r.removed.map((e) => e.files[0])).toEqual(["bootstrap/bbbb.tar"]);
      expect(r.busy).toEqual(["bootstrap/aaaa.tar", "debs/debian-bookworm-amd64/x.deb"]);
      expect(existsSync(locked)).toBe(true);
    } finally {
      await release();
    }
    // Released: it goes, and the debs with it.
    expect((await pruneCache({ max: 0 })).removed.map((e) => e.files[0])).toEqual([
      "bootstrap/aaaa.tar",
      "debs/debian-bookworm-amd64/x.deb",
    ]);
  });

  it("counts push blobs with their digest files and a killed pull's parts, a part a pull holds kept", async () => {
    const sha = (c: string) => c.repeat(64);
    file(`blobs/${sha("a")}.zst`, 32, 8);
    file(`blobs/${sha("a")}.zst.sha256`, 4, 0); // the blob's atime is the entry's
    file(`blobs/${sha("b")}.containerdisk.tar.gz`, 32, 6);
    file(`blobs/${sha("b")}.containerdisk.tar.gz.json`, 4, 6);
    file(`blobs/${sha("c")}.zst.123.tmp`, 32, 30); // a push compressing now
    const held = file(`downloads/sha256-${sha("d")}.part`, 32, 7);
    file(`downloads/sha256-${sha("e")}.part`, 32, 5);
    const release = await lockfile.lock(held, { realpath: false, stale: 10_000 });
    try {
      const r = await pruneCache({ max: 0 });
      expect(r.removed.map((e) => e.files)).toEqual([
        [`blobs/${sha("a")}.zst`, `blobs/${sha("a")}.zst.sha256`],
        [`blobs/${sha("b")}.containerdisk.tar.gz`, `blobs/${sha("b")}.containerdisk.tar.gz.json`],
        [`downloads/sha256-${sha("e")}.part`],
      ]);
      expect(r.busy).toEqual([`downloads/sha256-${sha("d")}.part`]);
      expect(existsSync(held)).toBe(true);
      expect(existsSync(path.join(store.cache, `blobs/${sha("c")}.zst.123.tmp`))).toBe(true);
    } finally {
      await release();
    }
  });

  it("reads the cap from PLINTH_CACHE_MAX, and refuses one that is not a size", () => {
    expect(cacheMaxBytes({})).toBe(DEFAULT_CACHE_MAX);
    expect(cacheMaxBytes({ PLINTH_CACHE_MAX: "512M" })).toBe(512 * 1024 ** 2);
    expect(cacheMaxBytes({ PLINTH_CACHE_MAX: "20GiB" })).toBe(20 * 1024 ** 3);
    expect(cacheMaxBytes({ PLINTH_CACHE_MAX: "4096" })).toBe(4096);
    for (const bad of ["lots", "20X", "-1G", "1G2"])
      expect(() => cacheMaxBytes({ PLINTH_CACHE_MAX: bad })).toThrow(
        expect.objectContaining({
          code: "BAD_CACHE_MAX",
          message: `PLINTH_CACHE_MAX="${bad}" is not a size.`,
        }),
      );
  });
});

describe("the bootstrap stage records use", () => {
  it("sets a cached tarball's atime on a hit and keeps its mtime", async () => {
    // The stage itself needs mmdebstrap for a miss; a hit is a plain file under the lock.
    const store = tempStore();
    try {
      const { bootstrap } = await import("../../src/builder/bootstrap/cache.js");
      const hash = "f".repeat(64);
      const tarball = path.join(store.cache, "bootstrap", `${hash}.tar`);
      mkdirSync(path.dirname(tarball), { recursive: true });
      writeFileSync(tarball, "x");
      writeFileSync(tarball.replace(/\.tar$/, ".epoch"), "1700000000\n");
      const old = Date.now() / 1000 - 30 * DAY;
      utimesSync(tarball, old, old);
      const plan = { hash } as Parameters<typeof bootstrap>[0];
      const r = await bootstrap(plan, {});
      expect(r).toMatchObject({ cached: true, epoch: 1_700_000_000 });
      const st = statSync(tarball);
      expect(st.atimeMs).toBeGreaterThan(Date.now() - 60_000);
      expect(Math.floor(st.mtimeMs / 1000)).toBe(Math.floor(old));
    } finally {
      store.restore();
    }
  });
});
