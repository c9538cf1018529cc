import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { diskCmdline, diskIds, ESP_BYTES, makeDisk } from "../../src/builder/outputs/disk.js";
import { UserError } from "../../src/errors.js";
import { sha256File } from "../../src/util/hash.js";
import { ext4Of } from "../helpers.js";

const MiB = 1024 * 1024;
const EPOCH = 1764633600;
const CMDLINE = "console=ttyS0 root=/dev/vda rw panic=-1";

/** An image dir with a small rootfs.ext4 and stand-in kernel and initramfs files. */
function imageDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "plinth-disk-"));
  copyFileSync(
    ext4Of({ "etc/hostname": "disk\n", "usr/bin/tool": "x".repeat(10000) }),
    path.join(dir, "rootfs.ext4"),
  );
  writeFileSync(path.join(dir, "vmlinuz"), "kernel bytes");
  writeFileSync(path.join(dir, "initrd.img"), "initramfs bytes");
  return dir;
}

async function disk(dir: string, size?: number): Promise<string> {
  const ids = diskIds("ab".repeat(32));
  const out = path.join(mkdtempSync(path.join(os.tmpdir(), "plinth-disk-out-")), "disk.raw");
  await makeDisk({
    dir,
    work: mkdtempSync(path.join(os.tmpdir(), "plinth-disk-work-")),
    out,
    arch: "amd64",
    title: "t 1.0.0",
    cmdline: diskCmdline(CMDLINE, ids.root),
    ids,
    size,
    epoch: EPOCH,
  });
  return out;
}

const sh = (cmd: string, ...args: string[]) =>
  execFileSync(cmd, args, { encoding: "utf8", env: { ...process.env, MTOOLS_SKIP_CHECK: "1" } });

describe("the disk output", () => {
  it("is a GPT disk: an ESP with systemd-boot and a loader entry naming the root by PARTUUID, then rootfs.ext4", async () => {
    const dir = imageDir();
    const raw = await disk(dir);
    const ids = diskIds("ab".repeat(32));
    const table = JSON.parse(sh("sfdisk", "-J", raw)) as {
      partitiontable: {
        label: string;
        id: string;
        partitions: { start: number; size: number; type: string; uuid: string }[];
      };
    };
    const [esp, root] = table.partitiontable.partitions;
    expect(table.partitiontable).toMatchObject({ label: "gpt", id: ids.disk.toUpperCase() });
    expect(esp).toMatchObject({
      start: 2048,
      size: ESP_BYTES / 512,
      type: "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
      uuid: ids.esp.toUpperCase(),
    });
    expect(root).toMatchObject({
      type: "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
      uuid: ids.root.toUpperCase(),
    });

    const espImg = `${raw}@@${esp!.start * 512}`;
    expect(sh("mdir", "-b", "-i", espImg, "::/EFI/BOOT").trim()).toBe("::/EFI/BOOT/BOOTX64.EFI");
    expect(sh("mtype", "-i", espImg, "::/loader/entries/plinth.conf")).toBe(
      `title t 1.0.0\nlinux /vmlinuz\ninitrd /initrd.img\noptions console=ttyS0 root=PARTUUID=${ids.root} rw panic=-1 net.ifnames=0\n`,
    );
    expect(sh("mtype", "-i", espImg, "::/loader/loader.conf")).toContain("timeout 0");
    expect(sh("mtype", "-i", espImg, "::/vmlinuz")).toBe("kernel bytes");

    // The root partition holds rootfs.ext4 byte for byte.
    const ext4 = readFileSync(path.join(dir, "rootfs.ext4"));
    const part = readFileSync(raw).subarray(root!.start * 512, (root!.start + root!.size) * 512);
    expect(part.equals(ext4)).toBe(true);
  });

  it("gives the same bytes twice (ids from the build hash, times from the epoch)", async () => {
    const dir = imageDir();
    const a = await disk(dir);
    await new Promise((r) => setTimeout(r, 1100));
    expect(await sha256File(await disk(dir))).toBe(await sha256File(a));
  });

  it("with disk.size, is that size, its root filesystem grown to fill the partition", async () => {
    const raw = await disk(imageDir(), 160 * MiB);
    expect(readFileSync(raw).length).toBe(160 * MiB);
    const root = (
      JSON.parse(sh("sfdisk", "-J", raw)) as {
        partitiontable: { partitions: { start: number; size: number }[] };
      }
    ).partitiontable.partitions[1]!;
    const part = path.join(mkdtempSync(path.join(os.tmpdir(), "plinth-part-")), "root.ext4");
    sh(
      "dd",
      `if=${raw}`,
      `of=${part}`,
      "bs=512",
      `skip=${root.start}`,
      `count=${root.size}`,
      "status=none",
    );
    sh("e2fsck", "-fn", part);
    const header = sh("dumpe2fs", "-h", part);
    const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(header)![1]);
    expect(field("Block count") * field("Block size")).toBe(root.size * 512);
  });

  it("says by how much a disk.size is too small", async () => {
    const error = await disk(imageDir(), 70 * MiB).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).message).toMatch(
      /^disk\.size 70 MiB is \d+ MiB too small for the disk/,
    );
  });
});
