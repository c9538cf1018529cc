import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, truncateSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

const MiB = 1024 * 1024;
export const RAW_BYTES = 64 * MiB;

/**
 * A small raw GPT disk like the disk stage's: an 8 MiB FAT ESP at 1 MiB and an ext4 root
 * after it, holding text files and 4 MiB of random bytes (which do not compress), with
 * the rest of the disk left sparse. Made with the same tools, as files, no loop device.
 */
export function makeRawDisk(dir = mkdtempSync(path.join(os.tmpdir(), "plinth-raw-"))): string {
  const raw = path.join(dir, "disk.raw");
  writeFileSync(raw, "");
  truncateSync(raw, RAW_BYTES);
  const table = [
    "label: gpt",
    "unit: sectors",
    "start=2048, size=16384, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=ESP",
    "start=18432, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name=root",
    "",
  ].join("\n");
  execFileSync("sfdisk", ["-q", "--no-reread", "--no-tell-kernel", raw], { input: table });

  const esp = path.join(dir, "esp.img");
  execFileSync("mkfs.vfat", ["-C", "-i", "1234abcd", esp, String(8 * 1024)], { stdio: "ignore" });
  place(esp, raw, MiB);

  const tree = path.join(dir, "tree");
  mkdirSync(path.join(tree, "etc"), { recursive: true });
  writeFileSync(path.join(tree, "etc", "hostname"), "vm-formats\n");
  writeFileSync(path.join(tree, "etc", "motd"), "a disk for the VMware output tests\n".repeat(100));
  writeFileSync(path.join(tree, "random.bin"), randomBytes(4 * MiB));
  const root = path.join(dir, "root.ext4");
  const rootBytes = RAW_BYTES - 9 * MiB - MiB; // up to the backup GPT
  execFileSync("mke2fs", ["-q", "-F", "-t", "ext4", "-d", tree, root, `${rootBytes / 1024}k`]);
  place(root, raw, 9 * MiB);
  return raw;
}

/** Copy a file into the disk at a byte offset, leaving the rest as it is. */
function place(file: string, disk: string, offset: number): void {
  // prettier-ignore
  execFileSync("dd", [`if=${file}`, `of=${disk}`, "bs=1M", `seek=${offset}`, "oflag=seek_bytes", "conv=notrunc,sparse", "status=none"]);
}
