import { existsSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { NotFoundError } from "../../src/errors.js";
import { withStoreLock } from "../../src/store/lock.js";
import { listImages, pruneImages, removeImages, removeSlot } from "../../src/store/manage.js";
import { listVms } from "../../src/vm/state.js";
import { fakeQemu, slot, tempStore, vm } from "./fixtures.js";

const users = () => listVms(true);

describe("managing the local store", () => {
  let store: ReturnType<typeof tempStore>;
  beforeEach(() => {
    store = tempStore();
  });
  afterEach(() => store.restore());

  it("lists every slot with its allocated size and the VMs (running or kept) that use it", async () => {
    const a = slot("demo", "0.1.0", "a", { dataKiB: 64, age: 10 });
    const b = slot("demo", "0.2.0", "b");
    const c = slot("other", "1.0.0", "c");
    const qemu = await fakeQemu();
    try {
      vm(store.home, "web", b, qemu.pid);
      vm(store.home, "kept", path.join(a, "rootfs.ext4")); // a path inside the slot counts
      const images = await listImages(users);
      expect(images.map((i) => [i.name, i.version, i.vms])).toEqual([
        ["demo", "0.2.0", ["web"]],
        ["demo", "0.1.0", ["kept"]],
        ["other", "1.0.0", []],
      ]);
      const big = images[1]!;
      expect(big).toMatchObject({ dir: a, buildHash: "a".repeat(64) });
      // Sparse: 64 KiB written of 64 MiB.
      expect(big.sizeBytes).toBeGreaterThanOrEqual(64 * 1024);
      expect(big.sizeBytes).toBeLessThan(1024 * 1024);
      expect(images[2]!.dir).toBe(c);
    } finally {
      qemu.kill();
    }
  });

  it("rm refuses an image a VM uses, naming it, and removes nothing", async () => {
    const a = slot("demo", "0.1.0", "a");
    const b = slot("spare", "0.1.0", "b");
    vm(store.home, "dev", a);
    const err = await removeImages(["spare", "demo"], { users }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "IMAGE_IN_USE", hint: "Stop it first: plinth stop dev" });
    expect((err as Error).message).toMatch(/demo:0\.1\.0\+a{12} is used by VM "dev"/);
    expect(existsSync(path.join(a, "metadata.json")) && existsSync(b)).toBe(true);
  });

  it("rm removes plinth's files of an unused image, the dirs once empty, and keeps others' files", async () => {
    const a = slot("demo", "0.1.0", "a");
    const b = slot("demo", "0.2.0", "b");
    writeFileSync(path.join(a, "origin.json"), "{}");
    writeFileSync(path.join(b, "notes.txt"), "the user's");
    const [ra] = await removeImages(["demo:0.1"], { users });
    expect(ra).toMatchObject({ dir: a, left: [] });
    expect(ra!.removed.sort()).toEqual([
      "SHA256SUMS",
      "metadata.json",
      "origin.json",
      "rootfs.ext4",
    ]);
    expect(ra!.freedBytes).toBeGreaterThan(0);
    expect(existsSync(a)).toBe(false);
    const [rb] = await removeImages(["demo"], { users });
    expect(rb!.left).toEqual(["notes.txt"]);
    expect(readdirSync(b)).toEqual(["notes.txt"]); // the dir is kept for it
    await expect(removeImages(["demo"], { users })).rejects.toBeInstanceOf(NotFoundError);
  });

  it("rm refuses a ref matching several slots unless --all-versions", async () => {
    slot("demo", "1.2.0", "a");
    slot("demo", "1.2.1", "b");
    slot("demo", "1.3.0", "c");
    await expect(removeImages(["demo:1.2"], { users })).rejects.toThrow(
      /"demo:1\.2" matches 2 images \(demo:1\.2\.1\+b{12}, demo:1\.2\.0\+a{12}\): pass a fuller version, or --all-versions/,
    );
    await expect(removeImages(["demo"], { users })).rejects.toThrow(/matches 3 images/);
    expect(await removeImages(["demo:1.2"], { users, allVersions: true })).toHaveLength(2);
    expect(await removeImages(["demo"], { users })).toHaveLength(1); // one left: unambiguous
    expect(existsSync(path.join(store.home, "images", "demo"))).toBe(false);
  });

  it("rm takes store names only, and removeSlot never leaves the store or follows links", async () => {
    for (const ref of ["..", "./demo", "/tmp", "demo:../x", "demo:latest"])
      await expect(removeImages([ref], { users })).rejects.toMatchObject({ code: "BAD_IMAGE_REF" });
    const a = slot("demo", "0.1.0", "a");
    await expect(removeSlot(path.join(a, ".."))).rejects.toThrow(/not a store slot/);
    await expect(removeSlot(path.join(store.home, "vms"))).rejects.toThrow(/not inside/);
    const link = path.join(store.home, "images", "demo", "0.2.0+linklinklink");
    symlinkSync(a, link);
    await expect(removeSlot(link)).rejects.toThrow(/symbolic link/);
    expect(existsSync(path.join(a, "rootfs.ext4"))).toBe(true);
  });

  it("prune keeps the newest slot of each name and the ones VMs use; --all only the used", async () => {
    const old = slot("demo", "0.1.0", "a");
    const used = slot("demo", "0.2.0", "b");
    const newest = slot("demo", "0.3.0", "c");
    const single = slot("other", "1.0.0", "d");
    vm(store.home, "dev", used);
    const dry = await pruneImages({ dryRun: true, users });
    expect(dry.removed.map((r) => r.dir)).toEqual([old]);
    expect(dry.freedBytes).toBeGreaterThan(0);
    expect(existsSync(old)).toBe(true);
    const pruned = await pruneImages({ users });
    expect(pruned.removed.map((r) => r.dir)).toEqual([old]);
    expect(pruned.inUse.map((i) => [i.dir, i.vms])).toEqual([[used, ["dev"]]]);
    expect([existsSync(old), existsSync(used), existsSync(newest), existsSync(single)]).toEqual([
      false,
      true,
      true,
      true,
    ]);
    const all = await pruneImages({ all: true, users });
    expect(all.removed.map((r) => r.dir).sort()).toEqual([newest, single].sort());
    expect((await listImages(users)).map((i) => i.dir)).toEqual([used]);
  });

  it("the store lock serialises across callers and is reentrant within one", async () => {
    const order: string[] = [];
    const hold = withStoreLock(async () => {
      order.push("a-in");
      await withStoreLock(async () => order.push("a-nested")); // would deadlock if not reentrant
      await new Promise((r) => setTimeout(r, 300));
      order.push("a-out");
    });
    await new Promise((r) => setTimeout(r, 50));
    // Outside the first call chain: waits for it.
    const other = withStoreLock(async () => order.push("b"));
    await Promise.all([hold, other]);
    expect(order).toEqual(["a-in", "a-nested", "a-out", "b"]);
    expect(existsSync(path.join(store.home, "images.lock"))).toBe(false);
  });
});
