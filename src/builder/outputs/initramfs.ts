import { existsSync } from "node:fs";
import { chmod, copyFile, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { BuildError } from "../../errors.js";
import { run } from "../../host/exec.js";
import { which } from "../../host/tools.js";
import { resolveInRoot } from "../in-root.js";

/**
 * What the guest needs before its root filesystem is mounted: the virtio-mmio bus
 * (QEMU microvm, Firecracker), the root disk, the agent's virtio-serial port, the network
 * and vsock. Anything built into the kernel is skipped.
 */
export const BOOT_MODULES = [
  "virtio_mmio",
  "virtio_pci",
  "virtio_blk",
  "virtio_console",
  "virtio_net",
  "vmw_vsock_virtio_transport",
];

const modName = (p: string) =>
  path
    .basename(p)
    .replace(/\.ko(\.(xz|zst|gz))?$/, "")
    .replaceAll("-", "_");

/**
 * Modules to load, dependencies first, as paths relative to the modules directory,
 * resolved from the image's own modules.dep. Built-in modules are dropped.
 */
export function resolveModules(
  modulesDep: string,
  modulesBuiltin: string,
  wanted: string[],
): string[] {
  const deps = new Map<string, { file: string; deps: string[] }>();
  for (const line of modulesDep.split("\n")) {
    const m = /^([^:]+):\s*(.*)$/.exec(line.trim());
    if (m) deps.set(modName(m[1]!), { file: m[1]!, deps: m[2]!.split(/\s+/).filter(Boolean) });
  }
  const builtin = new Set(modulesBuiltin.split("\n").filter(Boolean).map(modName));
  const order: string[] = [];
  const visit = (name: string, chain: string[]) => {
    if (builtin.has(name) || order.some((f) => modName(f) === name)) return;
    const entry = deps.get(name);
    if (!entry)
      throw new BuildError(
        "initramfs",
        `kernel module ${name} is neither built in nor in modules.dep (needed by ${chain.join(" → ") || "plinth"}).`,
      );
    // modules.dep lists a module's dependencies nearest-first: load them from the end.
    for (const d of [...entry.deps].reverse()) visit(modName(d), [...chain, name]);
    if (!order.includes(entry.file)) order.push(entry.file);
  };
  for (const w of wanted) visit(w.replaceAll("-", "_"), []);
  return order;
}

/** The initramfs's /init: load modules, mount the root, hand over to the image's init. */
export function initScript(modules: string[]): string {
  return `#!/bin/busybox sh
# plinth initramfs: only what is needed to reach the root filesystem, then switch_root.
export PATH=/bin
busybox mount -t devtmpfs dev /dev
busybox mount -t proc proc /proc
for m in ${modules.map((m) => path.basename(m).replace(/\.(xz|zst|gz)$/, "")).join(" ")}; do
  busybox insmod /lib/modules/$m || echo "plinth-initramfs: insmod $m failed"
done
root=/dev/vda; init=/sbin/init
for arg in $(busybox cat /proc/cmdline); do
  case "$arg" in root=*) root="\${arg#root=}";; init=*) init="\${arg#init=}";; esac
done
# root=PARTUUID=… (a disk image): the GPT partition with that unique GUID, read from each
# disk's partition entries (virtio, SCSI as on VMware, NVMe) (LBA 2, 128 bytes each), since busybox's blkid knows no
# PARTUUIDs. The GUID's first three fields are stored little-endian.
partuuid() {
  want=$(echo "$1" | busybox tr A-F a-f)
  for dev in /dev/vd[a-z] /dev/sd[a-z] /dev/nvme[0-9]n[0-9]; do
    [ -b "$dev" ] || continue; n=0; p=; case "$dev" in *[0-9]) p=p;; esac
    for e in $(busybox dd if=$dev bs=512 skip=2 count=32 2>/dev/null | busybox hexdump -v -e '128/1 "%02x" "\\n"'); do
      n=$((n+1)); g=\${e:32:32}
      [ "\${g:6:2}\${g:4:2}\${g:2:2}\${g:0:2}-\${g:10:2}\${g:8:2}-\${g:14:2}\${g:12:2}-\${g:16:4}-\${g:20:12}" = "$want" ] && { echo "$dev$p$n"; return; }
    done
  done
}
device() { case "$root" in PARTUUID=*) partuuid "\${root#PARTUUID=}";; *) echo "$root";; esac; }
i=0; dev=$(device)
while [ ! -b "$dev" ] && [ $i -lt 500 ]; do busybox usleep 10000; i=$((i+1)); dev=$(device); done
if ! busybox mount -t ext4 -o rw "$dev" /newroot; then
  echo "plinth-initramfs: cannot mount $root"; busybox poweroff -f
fi
busybox umount /proc
busybox mount --move /dev /newroot/dev
exec busybox switch_root /newroot "$init"
`;
}

/**
 * Build a small uncompressed initramfs (busybox + the boot modules) for the image's own
 * kernel. Uncompressed because it is ~3 MB and unpacking beats decompressing under TCG.
 */
export async function makeInitramfs(
  tree: string,
  kernelVersion: string,
  out: string,
  work: string,
  signal?: AbortSignal,
  /** Beyond BOOT_MODULES: what the image's other hardware needs (VMware's pvscsi, …). */
  extraModules: string[] = [],
): Promise<void> {
  const modDir = [
    resolveInRoot(tree, `/usr/lib/modules/${kernelVersion}`),
    resolveInRoot(tree, `/lib/modules/${kernelVersion}`),
  ].find(existsSync);
  if (!modDir)
    throw new BuildError(
      "initramfs",
      `the image has no modules directory for kernel ${kernelVersion}.`,
    );
  const read = (f: string) => readFile(path.join(modDir, f), "utf8").catch(() => "");
  const modules = resolveModules(await read("modules.dep"), await read("modules.builtin"), [
    ...BOOT_MODULES,
    ...extraModules,
  ]);
  const busybox = which("busybox");
  if (!busybox)
    throw new BuildError(
      "initramfs",
      "busybox is missing on the host (run `plinth doctor --fix`).",
    );

  const root = path.join(work, "initramfs");
  await rm(root, { recursive: true, force: true });
  for (const d of ["bin", "dev", "proc", "sys", "newroot", "lib/modules"])
    await mkdir(path.join(root, d), { recursive: true });
  await copyFile(busybox, path.join(root, "bin/busybox"));
  for (const m of modules) {
    // modules.dep names paths relative to the modules dir; a link among them stays in the image.
    const src = resolveInRoot(tree, path.join(path.relative(tree, modDir), m));
    const dest = path.join(root, "lib/modules", path.basename(m).replace(/\.(xz|zst|gz)$/, ""));
    if (m.endsWith(".ko")) await copyFile(src, dest);
    else {
      // busybox insmod wants plain .ko files.
      const tool = m.endsWith(".xz") ? "xz" : m.endsWith(".zst") ? "zstd" : "gzip";
      await run(["sh", "-c", `${tool} -dc "$1" > "$2"`, "sh", src, dest], {
        stage: "initramfs",
        signal,
      });
    }
  }
  await writeFile(path.join(root, "init"), initScript(modules));
  await chmod(path.join(root, "init"), 0o755);
  // Sorted names, fixed mtimes and owners: the same inputs give the same bytes.
  const script =
    'cd "$1" && find . -exec touch -h -d @0 {} + && ' +
    'find . -print0 | LC_ALL=C sort -z | cpio --null --create --format=newc --reproducible --owner=0:0 --quiet > "$2"';
  await run(["sh", "-c", script, "sh", root, out], { stage: "initramfs", signal });
  await rm(root, { recursive: true, force: true });
}
