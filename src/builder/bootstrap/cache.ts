import { existsSync } from "node:fs";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import lockfile from "proper-lockfile";
import { markUsed } from "../../store/cache.js";
import type { EventSink } from "../../events.js";
import type { BootstrapPlan } from "../plan.js";
import { cacheDir } from "../../paths.js";
import { runMmdebstrap } from "./mmdebstrap.js";

export interface BootstrapResult {
  tarball: string;
  cached: boolean;
  /**
   * The build's epoch (see docs/build.md, "Reproducibility"): SOURCE_DATE_EPOCH when set,
   * else the time this bootstrap was made, recorded beside it, so every image built from
   * one cached bootstrap gets the same timestamps and the same bytes.
   */
  epoch: number;
}

/**
 * The bootstrap stage, cached by the plan's content hash. The tarball is written to a
 * temp name and renamed, under a lock, so concurrent builds of the same base wait for
 * one another instead of bootstrapping twice or reading half a file.
 */
export async function bootstrap(
  plan: BootstrapPlan,
  opts: {
    signal?: AbortSignal;
    noCache?: boolean;
    tmpDir?: string;
    /** The build's event sink, for progress while mmdebstrap runs; none: no progress. */
    emit?: EventSink;
  },
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
    const epochFile = tarball.replace(/\.tar$/, ".epoch");
    if (!opts.noCache && existsSync(tarball) && (await stat(tarball)).size > 0) {
      await markUsed(tarball);
      return { tarball, cached: true, epoch: await recordedEpoch(plan, epochFile, tarball) };
    }
    const epoch = plan.sourceDateEpoch ?? Math.floor(Date.now() / 1000);
    const tmp = `${tarball}.${process.pid}.tmp`;
    try {
      await runMmdebstrap(plan, tmp, {
        debCache: path.join(cacheDir(), "debs", `${plan.distro}-${plan.suite}-${plan.arch}`),
        signal: opts.signal,
        sourceDateEpoch: epoch,
        tmpDir: opts.tmpDir,
        emit: opts.emit,
      });
      await writeFile(`${epochFile}.tmp`, `${epoch}\n`);
      await rename(`${epochFile}.tmp`, epochFile);
      await rename(tmp, tarball);
    } finally {
      await rm(tmp, { force: true });
    }
    await markUsed(tarball);
    return { tarball, cached: false, epoch };
  } finally {
    await release();
  }
}

/** The epoch a cached bootstrap was made with; the tarball's mtime for one made before plinth recorded it. */
async function recordedEpoch(plan: BootstrapPlan, file: string, tarball: string): Promise<number> {
  if (plan.sourceDateEpoch !== undefined) return plan.sourceDateEpoch;
  const text = await readFile(file, "utf8").catch(() => "");
  if (/^\d+\s*$/.test(text)) return Number(text);
  return Math.floor((await stat(tarball)).mtimeMs / 1000);
}
