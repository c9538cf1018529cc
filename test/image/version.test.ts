import { describe, expect, it } from "vitest";
import { imageVersion, parseImageVersion, sourceDateEpoch } from "../../src/image/version.js";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { tempFiles } from "../helpers.js";

describe("image versions", () => {
  it("formats MAJOR.MINOR.PATCH-YYYYMMDD-gitshort with the date from SOURCE_DATE_EPOCH", async () => {
    const v = await imageVersion("1.2.3-rc.1+meta", `${tempFiles({})}/plinth.yaml`, 1700000000);
    expect(v).toBe("1.2.3-20231114-nogit");
  });

  it("uses the short commit of the spec's repository, marked -dirty with uncommitted changes", async () => {
    const repo = tempFiles({ "plinth.yaml": "name: a\n", README: "x\n" });
    const git = (...args: string[]) =>
      execFileSync("git", ["-C", repo, "-c", "user.name=t", "-c", "user.email=t@t", ...args]);
    git("init", "-q");
    git("add", "README");
    git("commit", "-qm", "first");
    const untracked = await imageVersion("0.1.0", `${repo}/plinth.yaml`, 0);
    git("add", "plinth.yaml");
    git("commit", "-qm", "spec");
    const short = git("rev-parse", "--short=7", "HEAD").toString().trim();
    const clean = await imageVersion("0.1.0", `${repo}/plinth.yaml`, 0);
    writeFileSync(`${repo}/plinth.yaml`, "name: b\n");
    const edited = await imageVersion("0.1.0", `${repo}/plinth.yaml`, 0);
    expect(untracked).toMatch(/^0\.1\.0-19700101-[0-9a-f]{7}-dirty$/);
    expect([clean, edited]).toEqual([`0.1.0-19700101-${short}`, `0.1.0-19700101-${short}-dirty`]);
    expect(parseImageVersion(edited)).toMatchObject({ git: short, dirty: true });
  });

  it("parses versions back and reads SOURCE_DATE_EPOCH strictly", () => {
    expect(parseImageVersion("1.2.3-20231114-abc1234")).toEqual({
      major: 1,
      minor: 2,
      patch: 3,
      date: "20231114",
      git: "abc1234",
    });
    expect(parseImageVersion("1.2")).toBeUndefined();
    expect(sourceDateEpoch({ SOURCE_DATE_EPOCH: "123" })).toBe(123);
    expect(sourceDateEpoch({ SOURCE_DATE_EPOCH: "soon" })).toBeUndefined();
  });
});
