import { copyFile, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import type { Spec } from "../../spec/schema.js";
import type { Rootfs } from "./rootfs.js";

const POLICY_RC = "/usr/sbin/policy-rc.d";

/**
 * The spec's `run` commands, in order, each with `sh -e` in the chroot. Daemons are kept
 * from starting (policy-rc.d) and the host's resolv.conf is lent for network access.
 */
export async function applyRunSteps(fs: Rootfs, spec: Spec): Promise<void> {
  if (!spec.run.length) return;
  await fs.write(POLICY_RC, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
  const resolv = fs.path("/etc/resolv.conf");
  const hadResolv = existsSync(resolv);
  if (hadResolv) await copyFile(resolv, `${resolv}.plinth`);
  await rm(resolv, { force: true });
  await copyFile("/etc/resolv.conf", resolv).catch(() => undefined);
  try {
    for (const [i, cmd] of spec.run.entries())
      await fs.chroot(["/bin/sh", "-ec", cmd], `run[${i}]`);
  } finally {
    await rm(fs.path(POLICY_RC), { force: true });
    await rm(resolv, { force: true });
    if (hadResolv) await copyFile(`${resolv}.plinth`, resolv);
    await rm(`${resolv}.plinth`, { force: true });
  }
}
