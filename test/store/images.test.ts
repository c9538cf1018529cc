import { mkdirSync, utimesSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { NotFoundError, UserError } from "../../src/errors.js";
import {
  findByBuildHash,
  matchesVersionRef,
  resolveImageRef,
  slotDir,
} from "../../src/store/images.js";
import { fakeMetadata, tempFiles } from "../helpers.js";

/** A store slot holding just a metadata.json (what the store reads), aged `age` seconds. */
function slot(name: string, version: string, buildHash: string, age = 0): string {
  const dir = slotDir(name, version, buildHash);
  mkdirSync(dir, { recursive: true });
  const meta = fakeMetadata({ name, version, buildHash });
  const file = path.join(dir, "metadata.json");
  writeFileSync(file, JSON.stringify(meta));
  const t = Date.now() / 1000 - age;
  utimesSync(file, t, t);
  return dir;
}

describe("the local store", () => {
  let home: string | undefined;
  beforeEach(() => {
    home = process.env.PLINTH_HOME;
    process.env.PLINTH_HOME = tempFiles({});
  });
  afterEach(() => {
    if (home === undefined) delete process.env.PLINTH_HOME;
    else process.env.PLINTH_HOME = home;
  });

  it("gives two builds of one version (same day, same commit) two slots", async () => {
    const a = slot("demo", "1.2.3-20261202-abc1234", "a".repeat(64), 10);
    const b = slot("demo", "1.2.3-20261202-abc1234", "b".repeat(64));
    expect(a).not.toBe(b);
    expect(path.basename(a)).toBe("1.2.3-20261202-abc1234+aaaaaaaaaaaa");
    expect(await findByBuildHash("demo", "a".repeat(64))).toBe(a);
    expect(await findByBuildHash("demo", "b".repeat(64))).toBe(b);
    expect(await resolveImageRef("demo:1.2.3")).toBe(b); // the newest of equal versions
    expect(await resolveImageRef("demo:1.2.3+aaaa")).toBe(a);
  });

  it("resolves versions by parsed fields: 1.2 is not a prefix of 1.20", async () => {
    const v12 = slot("demo", "1.2.9-20261201-abc1234", "1".repeat(64));
    const v120 = slot("demo", "1.20.0-20261202-abc1234", "2".repeat(64));
    const v2 = slot("demo", "2.0.0-20261130-abc1234-dirty", "3".repeat(64));
    expect(await resolveImageRef("demo:1.2")).toBe(v12);
    expect(await resolveImageRef("demo:1.20")).toBe(v120);
    expect(await resolveImageRef("demo:1")).toBe(v120);
    expect(await resolveImageRef("demo")).toBe(v2); // highest version, not newest file
    expect(await resolveImageRef("demo:2.0.0-20261130-abc1234-dirty")).toBe(v2);
    await expect(resolveImageRef("demo:1.3")).rejects.toBeInstanceOf(NotFoundError);
  });

  it("matches version references field by field", () => {
    const meta = { version: "1.2.3-20261202-abc1234", buildHash: "cafe".repeat(16) };
    const yes = ["1", "1.2", "1.2.3", "1.2.3-20261202-abc1234", "1.2.3+cafe", "1.2+ca"];
    const no = ["2", "1.20", "1.2.30", "1.2.3-20261203-abc1234", "1.2.3+beef", "1.2.x", ""];
    expect(yes.filter((r) => matchesVersionRef(r, meta))).toEqual(yes);
    expect(no.filter((r) => matchesVersionRef(r, meta))).toEqual([]);
  });

  it("refuses names that could leave the store", async () => {
    for (const ref of ["..", "../../etc", "a/b", "A", "x:../y"])
      await expect(resolveImageRef(ref)).rejects.toBeInstanceOf(UserError);
    expect(() => slotDir("..", "1.0.0", "a".repeat(64))).toThrow(/Invalid image name/);
  });
});
