import { copyFile, readdir } from "node:fs/promises";
import path from "node:path";
import { BuildError } from "../../errors.js";
import type { Spec } from "../../spec/schema.js";
import { download } from "../../util/download.js";
import { resolveInRoot } from "../in-root.js";
import { makeInitramfs } from "./initramfs.js";
import { VMWARE_BOOT_MODULES } from "./vmware-hardware.js";

export interface KernelArtifacts {
  /** Kernel version string (from the file name), when known. */
  version?: string;
  kernel: string;
  initrd?: string;
}

/**
 * Put the kernel and initramfs next to the rootfs: from the image's own /boot when the
 * spec installs a kernel package, else the spec's local files or checked download (such
 * a kernel needs its virtio drivers built in, or an initrd from the spec).
 */
export async function extractKernel(
  tree: string,
  spec: Spec,
  outDir: string,
  work: string,
  signal?: AbortSignal,
): Promise<KernelArtifacts> {
  const kernel = path.join(outDir, "vmlinuz");
  if (spec.kernel.path) {
    await copyFile(spec.kernel.path, kernel);
    const out: KernelArtifacts = { kernel };
    if (spec.kernel.initrd) {
      out.initrd = path.join(outDir, "initrd.img");
      await copyFile(spec.kernel.initrd, out.initrd);
    }
    return out;
  }
  if (spec.kernel.url) {
    await download(spec.kernel.url, kernel, spec.kernel.sha256!, signal);
    return { kernel };
  }
  const boot = resolveInRoot(tree, "/boot");
  const files = await readdir(boot).catch(() => [] as string[]);
  const versions = files
    .filter((f) => f.startsWith("vmlinuz-"))
    .map((f) => f.slice("vmlinuz-".length))
    .sort(compareKernelVersions);
  const version = versions.at(-1);
  if (!version) {
    throw new BuildError(
      "kernel",
      "the image has no /boot/vmlinuz-*: its kernel package installed no kernel.",
    );
  }
  await copyFile(resolveInRoot(tree, `/boot/vmlinuz-${version}`), kernel);
  // plinth's own initramfs, not the distribution's: a few modules and busybox, so the
  // guest reaches its root (on virtio-mmio too) without udev or a generic initrd.
  const initrd = path.join(outDir, "initrd.img");
  // A VMware VM's disk is on pvscsi and its NIC is vmxnet3: its initramfs needs them too.
  const vmware = spec.outputs.some((o) => o === "vmdk" || o === "vmx" || o === "ova");
  await makeInitramfs(tree, version, initrd, work, signal, vmware ? VMWARE_BOOT_MODULES : []);
  return { version, kernel, initrd };
}

function compareKernelVersions(a: string, b: string): number {
  return a.localeCompare(b, "en", { numeric: true });
}
