import { describe, expect, it } from "vitest";
import { usedInodes } from "../../src/builder/outputs/ext4.js";

describe("usedInodes", () => {
  it("is the root dir and every non-reserved inode dumpe2fs does not list as free", () => {
    const dump = [
      "Inode count:              40",
      "First inode:              11",
      "Group 0: (Blocks 0-32767)",
      "  Free inodes: 15-16, 18",
      "Group 1: (Blocks 32768-65535)",
      "  Free inodes: ",
      "Group 2: (Blocks 65536-98303)",
      "  Free inodes: 25-40",
    ].join("\n");
    expect(usedInodes(dump)).toEqual([2, 11, 12, 13, 14, 17, 19, 20, 21, 22, 23, 24]);
  });
});
