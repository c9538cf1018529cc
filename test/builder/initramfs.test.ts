import { execFileSync } from "node:child_process";
import { mkdtempSync, truncateSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { initScript } from "../../src/builder/outputs/initramfs.js";

describe("initramfs /init", () => {
  it("finds root=PARTUUID= among a disk's GPT partitions, with busybox alone", () => {
    const disk = path.join(mkdtempSync(path.join(os.tmpdir(), "plinth-gpt-")), "disk.raw");
    writeFileSync(disk, "");
    truncateSync(disk, 8 * 1024 * 1024);
    const table = [
      "label: gpt",
      "start=2048, size=4096, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=0A1B2C3D-4E5F-4061-8273-8495A6B7C8D9",
      "start=6144, size=8192, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, uuid=11223344-5566-4788-99aa-bbccddeeff00",
    ].join("\n");
    execFileSync("sfdisk", ["-q", "--no-reread", "--no-tell-kernel", disk], { input: table });
    // The script's own function, pointed at the file instead of the block devices.
    const fn = /^partuuid\(\) \{[\s\S]*?^\}$/m
      .exec(initScript([]))![0]
      .replace("/dev/vd[a-z] /dev/sd[a-z] /dev/nvme[0-9]n[0-9]", disk)
      .replace('[ -b "$dev" ]', '[ -f "$dev" ]');
    const find = (uuid: string) =>
      execFileSync("busybox", ["sh", "-c", `${fn}\npartuuid "$1" || true`, "sh", uuid], {
        encoding: "utf8",
      }).trim();
    expect(find("11223344-5566-4788-99AA-BBCCDDEEFF00")).toBe(`${disk}2`);
    expect(find("0a1b2c3d-4e5f-4061-8273-8495a6b7c8d9")).toBe(`${disk}1`);
    expect(find("00000000-0000-4000-8000-000000000000")).toBe("");
  });
});
