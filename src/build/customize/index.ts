import type { Spec } from "../../spec/schema.js";
import { applyAgent } from "./agent.js";
import { applyConfigFiles } from "./config-files.js";
import { applyFiles } from "./files.js";
import { applyInit } from "./init.js";
import { Rootfs } from "./rootfs.js";
import { applyRunSteps } from "./run-steps.js";
import { applyServices } from "./services.js";
import { applySystem } from "./system.js";
import { applyUsers } from "./users.js";

export { Rootfs } from "./rootfs.js";
export { READY_MARKER } from "./services.js";

export interface InstalledPackage {
  name: string;
  version: string;
  arch: string;
}

/**
 * Apply the spec to a bootstrapped tree. The order matters: users before the files they
 * own, files before the units that use them, `run` steps last so they see everything.
 */
export async function customize(
  dir: string,
  spec: Spec,
  signal?: AbortSignal,
): Promise<InstalledPackage[]> {
  const fs = new Rootfs(dir, signal);
  await applyUsers(fs, spec);
  await applyFiles(fs, spec);
  await applySystem(fs, spec);
  await applyConfigFiles(fs, spec);
  await applyServices(fs, spec);
  await applyAgent(fs, spec);
  await applyInit(fs, spec);
  await applyRunSteps(fs, spec);
  const out = await fs.chroot(["dpkg-query", "-W", "-f=${Package}\t${Version}\t${Architecture}\n"]);
  return out
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [name, version, arch] = l.split("\t") as [string, string, string];
      return { name, version, arch };
    });
}
