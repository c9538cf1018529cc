import { describe, expect, it } from "vitest";
import { imageVersion, parseImageVersion, sourceDateEpoch } from "../../src/image/version.js";
import { ROOT, tempFiles } from "../helpers.js";

describe("image versions", () => {
  it("formats MAJOR.MINOR.PATCH-YYYYMMDD-gitshort with the date from SOURCE_DATE_EPOCH", async () => {
    const v = await imageVersion("1.2.3-rc.1+meta", tempFiles({}), 1700000000);
    expect(v).toBe("1.2.3-20231114-nogit");
  });

  it("uses the short commit of the spec's repository when there is one", async () => {
    const v = await imageVersion("0.1.0", ROOT, 0);
    expect(v).toMatch(/^0\.1\.0-19700101-([0-9a-f]{7,}|nogit)$/);
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
