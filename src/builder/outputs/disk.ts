import { copyFile, mkdir, rename, rm, stat, truncate, writeFile } from "node:fs/promises";
import path from "node:path";
import { UserError } from "../../errors.js";
import { run } from "../../host/exec.js";
import { sha256 } from "../../util/hash.js";
import { uuidFromHex } from "../../util/uuid.js";

type Stage = { stage: string; signal?: AbortSignal; env: Record<string, string> };

const MiB = 1024 * 1024;
const SECTOR = 512;
/** The ESP: room for systemd-boot, the kernel and plinth's initramfs, with margin. FAT32's floor is ~33 MiB. */
export const ESP_BYTES = 64 * MiB;
/** Partitions start 1 MiB in (aligned, past the primary GPT); 1 MiB at the end holds the backup GPT. */
const LEAD = MiB;
const TAIL = MiB;
const ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
const ROOT_TYPE = {
  amd64: "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
  arm64: "B921B045-1DF0-41C3-AF44-4C6F280D3FAE",
};
const LOADER = { amd64: "systemd-bootx64.efi", arm64: "systemd-bootaa64.efi" };
const BOOT_EFI = { amd64: "BOOTX64.EFI", arm64: "BOOTAA64.EFI" };
/** Debian's systemd-boot-efi puts the loader here. */
export const SYSTEMD_BOOT_DIR = "/usr/lib/systemd/boot/efi";

/** The identifiers of a disk, all derived from the build hash: equal builds, equal bytes. */
export interface DiskIds {
  disk: string;
  esp: string;
  root: string;
  /** FAT volume serial, 8 hex digits. */
  espSerial: string;
}

export function diskIds(buildHash: string): DiskIds {
  const id = (what: string) => uuidFromHex(sha256(buildHash, what));
  return {
    disk: id("disk"),
    esp: id("esp"),
    root: id("root"),
    espSerial: sha256(buildHash, "esp-serial").slice(0, 8),
  };
}

/**
 * The image's kernel command line for its disk: the root named by partition UUID, and
 * `net.ifnames=0`, so the first NIC is eth0 on PCI (q35, VMware's vmxnet3) as it is on
 * virtio-mmio, where there is no PCI path to name it by: network config written for one
 * boot holds for the other.
 */
export function diskCmdline(cmdline: string, rootPartuuid: string): string {
  const line = cmdline.replace(/(^|\s)root=\S+/, `$1root=PARTUUID=${rootPartuuid}`);
  return /(^|\s)net\.ifnames=/.test(line) ? line : `${line} net.ifnames=0`;
}

export interface DiskOptions {
  /** The image dir being written: rootfs.ext4, vmlinuz and initrd.img are read from it. */
  dir: string;
  /** Scratch space for the ESP and the resized root filesystem. */
  work: string;
  out: string;
  arch: "amd64" | "arm64";
  title: string;
  cmdline: string;
  ids: DiskIds;
  /** The whole disk's size (the spec's `disk.size`); else the root filesystem's own size. */
  size?: number;
  epoch: number;
  signal?: AbortSignal;
}

/**
 * A raw GPT disk, bootable under UEFI: an ESP (FAT32) with systemd-boot and one loader
 * entry (the image's kernel, plinth's initramfs, the command line with root=PARTUUID=),
 * and the root ext4. Made without root, mounts or loop devices: sfdisk writes the table
 * into the file, mkfs.vfat + mtools make the ESP as a file, and both filesystems are
 * copied in at their offsets. mtools and mkfs.vfat honour SOURCE_DATE_EPOCH.
 */
export async function makeDisk(o: DiskOptions): Promise<{ rootBytes: number }> {
  const env = { SOURCE_DATE_EPOCH: String(o.epoch), E2FSPROGS_FAKE_TIME: String(o.epoch) };
  const stage = { stage: "disk", signal: o.signal, env };
  const ext4 = path.join(o.dir, "rootfs.ext4");
  const root = await rootFilesystem(ext4, o, stage);
  const rootBytes = root.bytes;
  const total = LEAD + ESP_BYTES + rootBytes + TAIL;
  const tmp = `${o.out}.tmp`;
  try {
    await rm(tmp, { force: true });
    await writeFile(tmp, "");
    await truncate(tmp, total);
    const sectors = (n: number) => n / SECTOR;
    const table = [
      "label: gpt",
      `label-id: ${o.ids.disk}`,
      "unit: sectors",
      `first-lba: ${sectors(LEAD)}`,
      "",
      `start=${sectors(LEAD)}, size=${sectors(ESP_BYTES)}, type=${ESP_TYPE}, uuid=${o.ids.esp}, name="ESP"`,
      `start=${sectors(LEAD + ESP_BYTES)}, size=${sectors(rootBytes)}, type=${ROOT_TYPE[o.arch]}, uuid=${o.ids.root}, name="root"`,
      "",
    ].join("\n");
    await run(["sfdisk", "-q", "--no-reread", "--no-tell-kernel", tmp], { ...stage, input: table });
    const esp = await espImage(o, stage);
    await place(esp, tmp, LEAD, stage);
    await place(root.file, tmp, LEAD + ESP_BYTES, stage);
    await rename(tmp, o.out);
  } finally {
    await rm(tmp, { force: true });
  }
  return { rootBytes };
}

/**
 * The root filesystem for the disk: rootfs.ext4 itself, or, when the disk has a fixed
 * size, a copy resized to the partition that leaves.
 */
async function rootFilesystem(
  ext4: string,
  o: DiskOptions,
  stage: Stage,
): Promise<{ file: string; bytes: number }> {
  const { size } = await stat(ext4);
  if (o.size === undefined) return { file: ext4, bytes: size };
  const fit = Math.floor((o.size - LEAD - ESP_BYTES - TAIL) / MiB) * MiB;
  const minBlocks = Number(/(\d+)\s*$/.exec(await run(["resize2fs", "-P", ext4], stage))?.[1] ?? 0);
  const header = await run(["dumpe2fs", "-h", ext4], stage);
  const blockSize = Number(/^Block size:\s+(\d+)/m.exec(header)?.[1] ?? 4096);
  // resize2fs -P's estimate, plus the slack a shrink needs to succeed.
  const needed = minBlocks * blockSize + 16 * MiB;
  if (fit < needed) {
    const short = Math.ceil((needed - fit) / MiB);
    throw new UserError(
      "DISK_TOO_SMALL",
      `disk.size ${Math.round(o.size / MiB)} MiB is ${short} MiB too small for the disk: the ESP takes ${ESP_BYTES / MiB} MiB, the partition table 2 MiB and the root filesystem at least ${Math.ceil(needed / MiB)} MiB.`,
      { hint: `Raise disk.size to at least ${Math.ceil(o.size / MiB) + short}M.` },
    );
  }
  const file = path.join(o.work, "disk-root.ext4");
  await copyFile(ext4, file);
  await run(["resize2fs", "-f", file, `${fit / 1024}K`], stage);
  await truncate(file, fit);
  return { file, bytes: fit };
}

async function espImage(o: DiskOptions, stage: Stage): Promise<string> {
  const tree = path.join(o.work, "esp");
  await rm(tree, { recursive: true, force: true });
  const files: [string, string | { copy: string }][] = [
    [`EFI/BOOT/${BOOT_EFI[o.arch]}`, { copy: path.join(SYSTEMD_BOOT_DIR, LOADER[o.arch]) }],
    ["vmlinuz", { copy: path.join(o.dir, "vmlinuz") }],
    ["initrd.img", { copy: path.join(o.dir, "initrd.img") }],
    ["loader/loader.conf", "default plinth.conf\ntimeout 0\neditor no\n"],
    [
      "loader/entries/plinth.conf",
      `title ${o.title}\nlinux /vmlinuz\ninitrd /initrd.img\noptions ${o.cmdline}\n`,
    ],
  ];
  for (const [name, content] of files) {
    const at = path.join(tree, name);
    await mkdir(path.dirname(at), { recursive: true });
    if (typeof content === "string") await writeFile(at, content);
    else await copyFile(content.copy, at);
  }
  // prettier-ignore
  await run(["find", tree, "-exec", "touch", "--no-dereference", "--date", `@${o.epoch}`, "{}", "+"], stage);
  const esp = path.join(o.work, "esp.img");
  await rm(esp, { force: true });
  // prettier-ignore
  await run(
    ["mkfs.vfat", "--invariant", "-i", o.ids.espSerial, "-n", "ESP", "-F", "32", "-C", esp, String(ESP_BYTES / 1024)],
    stage,
  );
  // -m keeps the (pinned) mtimes; mtools stamps the directories it makes from SOURCE_DATE_EPOCH.
  await run(
    [
      "mcopy",
      "-i",
      esp,
      "-s",
      "-m",
      "-Q",
      path.join(tree, "EFI"),
      path.join(tree, "loader"),
      path.join(tree, "vmlinuz"),
      path.join(tree, "initrd.img"),
      "::/",
    ],
    stage,
  );
  return esp;
}

/** Copy a filesystem image into the disk at `offset`, keeping holes holes. */
async function place(file: string, disk: string, offset: number, stage: Stage): Promise<void> {
  // prettier-ignore
  await run(
    ["dd", `if=${file}`, `of=${disk}`, "bs=1M", `seek=${offset / MiB}`, "conv=notrunc,sparse", "status=none"],
    stage,
  );
}
