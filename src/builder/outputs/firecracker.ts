import { writeFile } from "node:fs/promises";
import path from "node:path";
import { UnsupportedError } from "../../errors.js";
import { stableStringify } from "../../util/hash.js";

/**
 * The document `firecracker --config-file` reads: one microVM, from the image's own
 * artifacts. Its paths are relative to the image directory (`vmlinux`, `initrd.img`,
 * `rootfs.ext4`): Firecracker opens them from its working directory, so start it with the
 * image directory as cwd, or rewrite them to absolute paths first. The root drive is
 * writable: boot a copy of rootfs.ext4 per VM (Firecracker has no overlay like QEMU's
 * qcow2), never the store's own file.
 */
export const FIRECRACKER_CONFIG = "firecracker.json";

export interface FirecrackerConfigOptions {
  /** The image's kernel command line (metadata.json `kernel.cmdline`). */
  kernelCmdline: string;
  cpus: number;
  memMiB: number;
  /** Boot with the image's initrd.img (a kernel whose virtio drivers are modules needs it). */
  initrd?: boolean;
  /** A TAP device on the host, as eth0 in the guest. */
  network?: { tap: string; mac?: string };
  /** A vsock device; `udsPath` is the host's Unix socket for it. */
  vsock?: { cid: number; udsPath: string };
}

/** The parts of Firecracker's full VM configuration plinth writes (names as in its API). */
export interface FirecrackerConfig {
  "boot-source": { kernel_image_path: string; initrd_path?: string; boot_args: string };
  drives: {
    drive_id: string;
    path_on_host: string;
    is_root_device: boolean;
    is_read_only: boolean;
  }[];
  "machine-config": { vcpu_count: number; mem_size_mib: number; smt: boolean };
  "network-interfaces"?: { iface_id: string; host_dev_name: string; guest_mac?: string }[];
  vsock?: { guest_cid: number; uds_path: string };
}

/**
 * What Firecracker's getting-started guide boots with ("console=ttyS0 reboot=k panic=1
 * pci=off"): its serial port is ttyS0; `reboot=k` resets through the i8042, which ends
 * the Firecracker process; `panic=1` reboots (so exits) a panicked guest; `pci=off` skips
 * probing a PCI bus it does not have unless started with --enable-pci. Not `acpi=off`:
 * since 1.8 Firecracker describes its virtio-mmio devices in ACPI tables, the only way a
 * kernel without CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES (Debian's) finds them. Not the rest of
 * its default command line either: `nomodule` and `8250.nr_uarts=0` would take away
 * plinth's initramfs modules and the console.
 */
const ADDITIONS: { arg: string; present: (param: string) => boolean }[] = [
  // Another console= (tty0, hvc0) does not do: the last console= is /dev/console.
  { arg: "console=ttyS0", present: (p) => /^console=ttyS0(,|$)/.test(p) },
  // For the others the image's own value wins (plinth's images say panic=-1).
  { arg: "reboot=k", present: (p) => p.startsWith("reboot=") },
  { arg: "panic=1", present: (p) => p.startsWith("panic=") },
  { arg: "pci=off", present: (p) => p.startsWith("pci=") },
];

/** The kernel's parameters: whitespace-separated, a double-quoted value kept whole. */
const params = (cmdline: string): string[] => cmdline.match(/(?:[^\s"]+|"[^"]*"?)+/g) ?? [];

/** The image's command line with Firecracker's needs added, each once. */
export function firecrackerBootArgs(kernelCmdline: string): string {
  const all = params(kernelCmdline);
  // After `--` the words are init's arguments: kernel parameters go before it.
  const end = all.includes("--") ? all.indexOf("--") : all.length;
  const kernel = all.slice(0, end);
  const added = ADDITIONS.filter((a) => !kernel.some(a.present)).map((a) => a.arg);
  return [...kernel, ...added, ...all.slice(end)].join(" ");
}

/** A Firecracker `--config-file` document for the image in the current directory. */
export function firecrackerConfig(o: FirecrackerConfigOptions): FirecrackerConfig {
  // The limits Firecracker's API puts on these, said before it refuses to start.
  if (!Number.isInteger(o.cpus) || o.cpus < 1 || o.cpus > 32)
    throw new UnsupportedError(`Firecracker runs 1 to 32 vCPUs, not ${o.cpus}.`);
  if (!Number.isInteger(o.memMiB) || o.memMiB < 1)
    throw new UnsupportedError(
      `Firecracker needs a whole number of MiB of memory, not ${o.memMiB}.`,
    );
  if (o.vsock && (!Number.isInteger(o.vsock.cid) || o.vsock.cid < 3))
    throw new UnsupportedError(
      `A vsock guest CID is 3 or more (0 to 2 are reserved), not ${o.vsock.cid}.`,
    );
  const config: FirecrackerConfig = {
    "boot-source": {
      kernel_image_path: "vmlinux",
      ...(o.initrd && { initrd_path: "initrd.img" }),
      boot_args: firecrackerBootArgs(o.kernelCmdline),
    },
    drives: [
      {
        drive_id: "rootfs",
        path_on_host: "rootfs.ext4",
        is_root_device: true,
        is_read_only: false,
      },
    ],
    "machine-config": { vcpu_count: o.cpus, mem_size_mib: o.memMiB, smt: false },
  };
  if (o.network) {
    config["network-interfaces"] = [
      {
        iface_id: "eth0",
        host_dev_name: o.network.tap,
        ...(o.network.mac && { guest_mac: o.network.mac }),
      },
    ];
  }
  if (o.vsock) config.vsock = { guest_cid: o.vsock.cid, uds_path: o.vsock.udsPath };
  return config;
}

/**
 * Write `config` as `dir/firecracker.json`: keys sorted at every level, two-space indent,
 * a final newline, so equal configs are equal bytes (rebuilds stay bit-identical).
 */
export async function writeFirecrackerConfig(dir: string, config: object): Promise<string> {
  const file = path.join(dir, FIRECRACKER_CONFIG);
  const sorted: unknown = JSON.parse(stableStringify(config));
  await writeFile(file, JSON.stringify(sorted, null, 2) + "\n");
  return file;
}
