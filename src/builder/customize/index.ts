import type { EventSink } from "../../events.js";
import type { Spec } from "../../spec/schema.js";
import { RELEASE_FILE } from "../../contract.js";
import { applyAgent } from "./agent.js";
import { applyConfigFiles } from "./config-files.js";
import { applyContainerBase } from "./container.js";
import type { ImageConfig } from "../container/fetch.js";
import { applyFiles } from "./files.js";
import { applyGuestConfig } from "./guest-config.js";
import { applyIdentity } from "./identity.js";
import { Rootfs } from "./rootfs.js";
import { applyRunSteps } from "./run-steps.js";
import { applyServices } from "./services.js";
import { applySystem } from "./system.js";
import { applyTrim } from "./trim.js";
import { applyUsers } from "./users.js";

export { Rootfs } from "./rootfs.js";

export interface InstalledPackage {
  name: string;
  version: string;
  arch: string;
}

/**
 * Apply the spec to a bootstrapped tree. The order matters: users before the files they
 * own, files before the units that use them, `run` steps after the rest so they see it
 * all (only the per-machine identity's removal and trimming come later).
 */
export async function customize(
  dir: string,
  spec: Spec,
  o: {
    version: string;
    epoch: number;
    emit: EventSink;
    signal?: AbortSignal;
    /** A container base: its config, and the packages to install into it. */
    container?: { config: ImageConfig; packages: string[] };
  },
): Promise<InstalledPackage[]> {
  const { emit } = o;
  const fs = new Rootfs(dir, o.signal, o.epoch);
  // Which image this is, for the guest and for `run` steps (e.g. a /etc/<product>-version).
  await fs.write(RELEASE_FILE, `PLINTH_IMAGE=${spec.name}\nPLINTH_IMAGE_VERSION=${o.version}\n`, {
    mode: 0o644,
  });
  if (o.container)
    await applyContainerBase(fs, spec, o.container.config, o.container.packages, emit);
  await applyUsers(fs, spec);
  await applyFiles(fs, spec);
  await applySystem(fs, spec);
  await applyConfigFiles(fs, spec);
  await applyServices(fs, spec, emit);
  await applyAgent(fs, spec);
  await applyGuestConfig(fs, spec);
  await applyRunSteps(fs, spec);
  await applyIdentity(fs, spec);
  await applyTrim(fs, spec);
  // A container base may have no dpkg at all: then there is no package list to report.
  if (!fs.exists("/usr/bin/dpkg-query")) return [];
  const out = await fs.chroot(["dpkg-query", "-W", "-f=${Package}\t${Version}\t${Architecture}\n"]);
  return out
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [name, version, arch] = l.split("\t") as [string, string, string];
      return { name, version, arch };
    });
}
