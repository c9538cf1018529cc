import { lstat, mkdtemp, readFile, rename, rm } from "node:fs/promises";
import path from "node:path";
import type { Spec } from "../../spec/schema.js";
import { resolveInRoot } from "../in-root.js";
import type { Rootfs } from "./rootfs.js";

/**
 * The spec's `run` commands, in order, each with `sh -e` in the chroot, with the network
 * lent (see `withNetwork`).
 */
export async function applyRunSteps(fs: Rootfs, spec: Spec): Promise<void> {
  if (!spec.run.length) return;
  await withNetwork(fs, async () => {
    for (const [i, cmd] of spec.run.entries())
      await fs.chroot(["/bin/sh", "-ec", cmd], `run[${i}]`);
  });
}

/**
 * `fn` with the chroot set up for package installs and downloads: daemons are kept from
 * starting (policy-rc.d) and the host's resolv.conf is lent for network access. Both are
 * lent, not written over: what the image had at those paths (a file, a symlink, a
 * dangling symlink, or nothing) is renamed aside, outside the tree, and renamed back
 * afterwards, whatever `fn` left in their place.
 */
export async function withNetwork(fs: Rootfs, fn: () => Promise<void>): Promise<void> {
  // Beside the tree (same filesystem, so rename works), where no step can reach it.
  const aside = await mkdtemp(path.join(path.dirname(fs.dir), ".plinth-lent-"));
  const lent: { inImage: string; saved?: string }[] = [];
  try {
    const hostResolv = await readFile("/etc/resolv.conf").catch(() => undefined);
    for (const [inImage, content, mode] of [
      ["/usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n", 0o755],
      ["/etc/resolv.conf", hostResolv, 0o644],
    ] as const) {
      const at = resolveInRoot(fs.dir, inImage, false);
      const had = await lstat(at).then(
        () => true,
        () => false,
      );
      const saved = had ? path.join(aside, String(lent.length)) : undefined;
      if (saved) await rename(at, saved);
      lent.push({ inImage, saved });
      if (content !== undefined) await fs.write(inImage, content, { mode });
    }
    await fn();
  } finally {
    for (const { inImage, saved } of lent.reverse()) {
      // What a step left there (a link, a file, even a directory), never what it points to.
      await rm(resolveInRoot(fs.dir, inImage, false), { recursive: true, force: true });
      if (saved) await rename(saved, resolveInRoot(fs.dir, inImage, false));
    }
    await rm(aside, { recursive: true, force: true });
  }
}
