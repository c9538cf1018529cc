import { existsSync } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import lockfile from "proper-lockfile";
import type { BootstrapPlan } from "../plan.js";
import { cacheDir } from "../../paths.js";
import { runMmdebstrap } from "./mmdebstrap.js";

export interface BootstrapResult {
  tarball: string;
  cached: boolean;
}

/**
 * The bootstrap stage, cached by the plan's content hash. The tarball is written to a
 * temp name and renamed, under a lock, so concurrent builds of the same base wait for
 * one another instead of bootstrapping twice or reading half a file.
 */
export async function bootstrap(
  plan: BootstrapPlan,
  opts: { signal?: AbortSignal; noCache?: boolean; sourceDateEpoch?: number; tmpDir?: string },
): Promise<BootstrapResult> {
  const dir = path.join(cacheDir(), "bootstrap");
  await mkdir(dir, { recursive: true });
  const tarball = path.join(dir, `${plan.hash}.tar`);
  const release = await lockfile.lock(tarball, {
    realpath: false,
    retries: { retries: 600, minTimeout: 1000, maxTimeout: 1000 },
    stale: 30_000,
  });
  try {
    if (!opts.noCache && existsSync(tarball) && (await stat(tarball)).size > 0) {
      return { tarball, cached: true };
    }
    const tmp = `${tarball}.${process.pid}.tmp`;
    try {
      await runMmdebstrap(plan, tmp, {
        debCache: path.join(cacheDir(), "debs", `${plan.distro}-${plan.suite}-${plan.arch}`),
        signal: opts.signal,
        sourceDateEpoch: opts.sourceDateEpoch,
        tmpDir: opts.tmpDir,
      });
      await rename(tmp, tarball);
    } finally {
      await rm(tmp, { force: true });
    }
    return { tarball, cached: false };
  } finally {
    await release();
  }
}
