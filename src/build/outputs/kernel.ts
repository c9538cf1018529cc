import { copyFile, readdir } from "node:fs/promises";
import path from "node:path";
import { BuildError } from "../../errors.js";
import type { Spec } from "../../spec/schema.js";
import { download } from "../../util/download.js";

export interface KernelArtifacts {
  /** Kernel version string (from the file name), when known. */
  version?: string;
  kernel: string;
  initrd?: string;
}

/**
 * Put the kernel (and initrd) next to the rootfs: from the image's own /boot when the
 * spec installs a kernel package, else the spec's local file or checked download.
 */
export async function extractKernel(
  tree: string,
  spec: Spec,
  outDir: string,
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
  const boot = path.join(tree, "boot");
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
  await copyFile(path.join(boot, `vmlinuz-${version}`), kernel);
  const out: KernelArtifacts = { version, kernel };
  if (files.includes(`initrd.img-${version}`)) {
    out.initrd = path.join(outDir, "initrd.img");
    await copyFile(path.join(boot, `initrd.img-${version}`), out.initrd);
  }
  return out;
}

function compareKernelVersions(a: string, b: string): number {
  return a.localeCompare(b, "en", { numeric: true });
}
