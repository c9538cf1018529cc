import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import lockfile from "proper-lockfile";
import type { EventSink } from "../../events.js";
import { run } from "../../host/exec.js";
import { cacheDir } from "../../paths.js";
import { markUsed } from "../../store/cache.js";
import { plural } from "../../util/plural.js";
import type { BootstrapResult } from "../bootstrap/cache.js";
import type { ContainerPlan } from "../plan.js";
import { fetchImage, ImageConfigSchema, type ImageConfig } from "./fetch.js";
import { describeSource } from "./source.js";
import { applyLayers } from "./unpack.js";

export { containerSource, describeSource, resolveDigest, type ContainerSource } from "./source.js";
export type { ImageConfig } from "./fetch.js";

export interface ContainerBootstrap extends BootstrapResult {
  config: ImageConfig;
}

/**
 * A container base as the bootstrap stage's tarball: its layers applied in order, then
 * archived, cached under the plan's hash (which covers the image's manifest digest), so
 * an unchanged image is fetched and unpacked once. The image config is kept beside it.
 */
export async function containerBootstrap(
  plan: ContainerPlan,
  o: {
    arch: string;
    sourceDateEpoch?: number;
    noCache?: boolean;
    tmpDir?: string;
    insecure?: string[];
    noDevices?: boolean;
    emit: EventSink;
    signal?: AbortSignal;
  },
): Promise<ContainerBootstrap> {
  const dir = path.join(cacheDir(), "bootstrap");
  await mkdir(dir, { recursive: true });
  const tarball = path.join(dir, `${plan.hash}.tar`);
  const configFile = tarball.replace(/\.tar$/, ".oci.json");
  const epochFile = tarball.replace(/\.tar$/, ".epoch");
  const release = await lockfile.lock(tarball, {
    realpath: false,
    retries: { retries: 600, minTimeout: 1000, maxTimeout: 1000 },
    stale: 30_000,
  });
  try {
    const cached = o.noCache ? undefined : await readCached(tarball, configFile, epochFile);
    if (cached) {
      await markUsed(tarball);
      return {
        tarball,
        cached: true,
        epoch: o.sourceDateEpoch ?? cached.epoch,
        config: cached.config,
      };
    }
    const work = await mkdtemp(path.join(o.tmpDir ?? dir, ".container-"));
    const tmp = `${tarball}.${process.pid}.tmp`;
    try {
      const what = describeSource(plan.source);
      const log = (message: string) =>
        o.emit({ type: "log", stage: "bootstrap", level: "info", message });
      log(`fetching ${what} (${plan.digest})`);
      const image = await fetchImage(plan.source, plan.digest, { ...o, work });
      log(`unpacking ${plural(image.layers.length, "layer")}`);
      const tree = path.join(work, "rootfs");
      await applyLayers(image.layers, tree, o);
      await run(
        [
          "tar",
          "-c",
          "--numeric-owner",
          "--xattrs",
          "--xattrs-include=*",
          "-f",
          tmp,
          "-C",
          tree,
          ".",
        ],
        { stage: "bootstrap", signal: o.signal },
      );
      // The image's own creation time, so a rebuild of an unchanged image is bit-identical.
      const created = image.config.created ? Date.parse(image.config.created) / 1000 : NaN;
      const epoch =
        o.sourceDateEpoch ??
        (Number.isFinite(created) && created > 0
          ? Math.floor(created)
          : Math.floor(Date.now() / 1000));
      // The side files first, each atomically: a tarball present means they are too.
      for (const [file, text] of [
        [configFile, JSON.stringify(image.config)],
        [epochFile, `${epoch}\n`],
      ] as const) {
        await writeFile(`${file}.${process.pid}.tmp`, text);
        await rename(`${file}.${process.pid}.tmp`, file);
      }
      await rename(tmp, tarball);
      await markUsed(tarball);
      return { tarball, cached: false, epoch, config: image.config };
    } finally {
      await rm(tmp, { force: true });
      await rm(work, { recursive: true, force: true });
    }
  } finally {
    await release();
  }
}

/** A complete cache entry: the tarball, its image config and its epoch; else none. */
async function readCached(
  tarball: string,
  configFile: string,
  epochFile: string,
): Promise<{ config: ImageConfig; epoch: number } | undefined> {
  if (!existsSync(tarball) || !(await stat(tarball)).size) return undefined;
  try {
    const config = ImageConfigSchema.parse(JSON.parse(await readFile(configFile, "utf8")));
    const epoch = Number((await readFile(epochFile, "utf8")).trim());
    return Number.isInteger(epoch) ? { config, epoch } : undefined;
  } catch {
    return undefined; // rebuilt, under the lock
  }
}
