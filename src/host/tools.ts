import { accessSync, constants, existsSync } from "node:fs";
import path from "node:path";
import { packageRoot } from "../paths.js";
import { MissingToolError } from "../errors.js";
import { tryRun } from "./exec.js";

/** A host program (or file) plinth drives, and the Debian package that provides it. */
export interface Tool {
  name: string;
  /** Debian package that provides it. */
  pkg: string;
  usedFor: string;
  /** argv printing a version; its first matching line is shown. */
  version?: string[];
  /** A data file rather than a program on PATH. */
  file?: string;
  /** Needed only by some specs (e.g. Ubuntu bases): listed, but its absence is not an error. */
  optional?: boolean;
}

/** This plinth runs from a source checkout (agent/ is there), not an installed package. */
const inSourceCheckout = () => existsSync(path.join(packageRoot(), "agent", "go.mod"));

export const TOOLS: Tool[] = [
  {
    name: "mmdebstrap",
    pkg: "mmdebstrap",
    usedFor: "Debian/Ubuntu bootstrap",
    version: ["mmdebstrap", "--version"],
  },
  { name: "mke2fs", pkg: "e2fsprogs", usedFor: "ext4 without mounting", version: ["mke2fs", "-V"] },
  { name: "resize2fs", pkg: "e2fsprogs", usedFor: "shrinking ext4" },
  { name: "e2fsck", pkg: "e2fsprogs", usedFor: "checking ext4", version: ["e2fsck", "-V"] },
  { name: "debugfs", pkg: "e2fsprogs", usedFor: "reading ext4 without mounting" },
  { name: "dumpe2fs", pkg: "e2fsprogs", usedFor: "ext4 geometry" },
  { name: "tar", pkg: "tar", usedFor: "stage cache", version: ["tar", "--version"] },
  {
    name: "unshare",
    pkg: "util-linux",
    usedFor: "isolated chroot for `run` steps",
    version: ["unshare", "--version"],
  },
  { name: "chroot", pkg: "coreutils", usedFor: "customizing the rootfs" },
  { name: "newuidmap", pkg: "uidmap", usedFor: "rootless (unshare) bootstrap" },
  {
    name: "qemu-system-x86_64",
    pkg: "qemu-system-x86",
    usedFor: "booting images",
    version: ["qemu-system-x86_64", "--version"],
  },
  {
    name: "qemu-img",
    pkg: "qemu-utils",
    usedFor: "overlays and disk formats",
    version: ["qemu-img", "--version"],
  },
  { name: "cpio", pkg: "cpio", usedFor: "initramfs", version: ["cpio", "--version"] },
  {
    name: "sfdisk",
    pkg: "fdisk",
    usedFor: "the disk output's GPT, written into a file",
    version: ["sfdisk", "--version"],
  },
  { name: "mkfs.vfat", pkg: "dosfstools", usedFor: "the disk output's ESP" },
  {
    name: "mcopy",
    pkg: "mtools",
    usedFor: "filling the ESP without mounting it",
    version: ["mcopy", "--version"],
  },
  {
    name: "systemd-boot",
    pkg: "systemd-boot-efi",
    usedFor: "the disk output's UEFI boot loader",
    file: "/usr/lib/systemd/boot/efi/systemd-bootx64.efi",
  },
  {
    name: "ovmf",
    pkg: "ovmf",
    usedFor: "booting a disk under UEFI (--boot disk)",
    file: "/usr/share/OVMF/OVMF_CODE_4M.fd",
  },
  { name: "busybox", pkg: "busybox-static", usedFor: "minimal init and the boot benchmark floor" },
  // Firecracker boots only an uncompressed vmlinux: these unpack a bzImage's payload
  // (gzip needs no tool: node's zlib does it). Debian's amd64 kernels are lz4.
  {
    name: "lz4",
    pkg: "lz4",
    usedFor: "unpacking lz4 kernels (Firecracker's vmlinux)",
    version: ["lz4", "--version"],
  },
  {
    name: "xz",
    pkg: "xz-utils",
    usedFor: "unpacking xz and lzma kernels (Firecracker's vmlinux)",
    version: ["xz", "--version"],
  },
  {
    name: "zstd",
    pkg: "zstd",
    usedFor: "unpacking zstd kernels (Firecracker's vmlinux); compressing pushed and pulled images",
    version: ["zstd", "--version"],
  },
  {
    name: "bzip2",
    pkg: "bzip2",
    usedFor: "unpacking bzip2 kernels (Firecracker's vmlinux)",
    version: ["bzip2", "--version"],
  },
  {
    name: "ssh",
    pkg: "openssh-client",
    usedFor: "logging in to a guest's sshd (`-p 2222:22`; the SSH example test)",
    version: ["ssh", "-V"],
  },
  {
    name: "ip",
    pkg: "iproute2",
    usedFor: "bridge networking (--net bridge): the bridge and each VM's TAP",
    version: ["ip", "-V"],
  },
  {
    name: "nft",
    pkg: "nftables",
    usedFor: "bridge networking: NAT and per-sandbox egress rules",
    version: ["nft", "--version"],
  },
  {
    name: "conntrack",
    pkg: "conntrack",
    usedFor: "bridge networking: forgetting a freed address's connections",
    version: ["conntrack", "--version"],
  },
  { name: "OVMF", pkg: "ovmf", usedFor: "UEFI boot tests", file: "/usr/share/OVMF/OVMF_CODE.fd" },
  // The registry tests' counterparts: a real registry and a client no one here wrote.
  ...[
    {
      name: "docker-registry",
      pkg: "docker-registry",
      usedFor: "the push/pull tests' local OCI registry",
    },
    {
      name: "skopeo",
      pkg: "skopeo",
      usedFor: "the push/pull tests' third-party OCI client",
      version: ["skopeo", "--version"],
    },
    {
      name: "setfattr",
      pkg: "attr",
      usedFor: "the container-layer tests' extended attributes",
    },
    {
      name: "htpasswd",
      pkg: "apache2-utils",
      usedFor: "the push/pull tests' registry with basic auth",
    },
  ].map((t) => ({ ...t, optional: !inSourceCheckout() })),
  {
    name: "buildah",
    pkg: "buildah",
    usedFor: "Dockerfile bases (`base: { dockerfile }`) and the container-base tests' images",
    version: ["buildah", "--version"],
    optional: !inSourceCheckout(),
  },
  {
    name: "go",
    pkg: "golang-go",
    usedFor: "building the guest agent (agent/, in a source checkout; the npm package ships it)",
    version: ["go", "version"],
    optional: !inSourceCheckout(),
  },
  {
    name: "ubuntu-keyring",
    pkg: "ubuntu-keyring",
    usedFor: "Ubuntu bootstrap (not in Debian bookworm's archive)",
    file: "/usr/share/keyrings/ubuntu-archive-keyring.gpg",
    optional: true,
  },
  {
    name: "debian-keyring",
    pkg: "debian-archive-keyring",
    usedFor: "Debian bootstrap",
    file: "/usr/share/keyrings/debian-archive-keyring.gpg",
  },
];

export function which(bin: string): string | undefined {
  const dirs = (process.env.PATH ?? "").split(":").concat(["/usr/sbin", "/sbin"]);
  for (const dir of dirs) {
    const p = path.join(dir, bin);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

export function toolPath(tool: Tool): string | undefined {
  if (tool.file) return existsSync(tool.file) ? tool.file : undefined;
  return which(tool.name);
}

export async function toolVersion(tool: Tool): Promise<string | undefined> {
  if (!tool.version) return undefined;
  const out = await tryRun(tool.version, 5000);
  return out
    ?.split("\n")
    .find((l) => /\d+\.\d+/.test(l))
    ?.trim();
}

/** Throw one MissingToolError naming every missing tool among `names`. */
export function requireTools(names: string[]): void {
  const missing = names.filter((n) => {
    const tool = TOOLS.find((t) => t.name === n);
    return tool ? !toolPath(tool) : !which(n);
  });
  if (missing.length) throw new MissingToolError(missing);
}
