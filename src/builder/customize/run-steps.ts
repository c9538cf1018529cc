import { lstat, readFile, rename } from "node:fs/promises";
import path from "node:path";
import type { Spec } from "../../spec/schema.js";
import { resolveInRoot } from "../in-root.js";
import type { Rootfs } from "./rootfs.js";

const POLICY_RC = "/usr/sbin/policy-rc.d";
const RESOLV = "/etc/resolv.conf";

/**
 * The spec's `run` commands, in order, each with `sh -e` in the chroot. Daemons are kept
 * from starting (policy-rc.d) and the host's resolv.conf is lent for network access: the
 * image's own /etc/resolv.conf (a file, a symlink, a dangling symlink, or nothing) is
 * renamed aside and put back as it was, whatever the steps left in its place.
 */
export async function applyRunSteps(fs: Rootfs, spec: Spec): Promise<void> {
  if (!spec.run.length) return;
  await fs.write(POLICY_RC, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
  const resolv = resolveInRoot(fs.dir, RESOLV, false);
  const saved = path.join(fs.dir, ".plinth-saved-resolv.conf");
  const had = await lstat(resolv).then(
    () => true,
    () => false,
  );
  if (had) await rename(resolv, saved);
  const hostResolv = await readFile("/etc/resolv.conf").catch(() => undefined);
  if (hostResolv) await fs.write(RESOLV, hostResolv, { mode: 0o644 });
  try {
    for (const [i, cmd] of spec.run.entries())
      await fs.chroot(["/bin/sh", "-ec", cmd], `run[${i}]`);
  } finally {
    await fs.remove(POLICY_RC);
    await fs.remove(RESOLV); // the link or file a step left, never what it points to
    if (had) await rename(saved, resolveInRoot(fs.dir, RESOLV, false));
  }
}
