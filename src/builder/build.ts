import { existsSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { SpecError, UnsupportedError } from "../errors.js";
import { noEvents, stage, type EventSink } from "../events.js";
import { run } from "../host/exec.js";
import { requireTools } from "../host/tools.js";
import {
  describeArtifact,
  readMetadata,
  writeMetadata,
  type Artifact,
  type ImageMetadata,
} from "../image/metadata.js";
import { imageVersion, sourceDateEpoch } from "../image/version.js";
import { ensurePulled, isRemoteRef } from "../registry/index.js";
import { findByBuildHash, resolveImageRef, slotDir } from "../store/images.js";
import { loadSpec } from "../spec/load.js";
import { parseSize } from "../spec/schema.js";
import { bootstrap } from "./bootstrap/cache.js";
import {
  containerBootstrap,
  containerSource,
  type ContainerBootstrap,
  describeSource,
  resolveDigest,
} from "./container/index.js";
import { customize, Rootfs } from "./customize/index.js";
import { osRelease } from "./customize/container.js";
import { licensesOf } from "./customize/licenses.js";
import { SBOM_FILE, writeSbom } from "../image/sbom.js";
import { PLINTH_VERSION } from "../version.js";
import { makeExt4 } from "./outputs/ext4.js";
import { outputTools, writeOutputs } from "./outputs/index.js";
import { extractKernel } from "./outputs/kernel.js";
import { planBuild, portableSpec, type Plan } from "./plan.js";
import { buildInUserNamespace, inUserNamespace } from "./rootless.js";
import { checkOutputDir, replaceDir, tempBeside } from "./output-dir.js";
import { makeWorkDir } from "./workdir.js";
import { uuidFromHex } from "../util/uuid.js";

export interface BuildOptions {
  specFile: string;
  /** `--set a.b=value` overrides. */
  sets?: string[];
  /** Image directory to create; default: the local store, `<PLINTH_HOME>/images/<name>/<slot>`. */
  outDir?: string;
  /** Replace `outDir` even when it is a non-empty directory that holds no plinth image. */
  force?: boolean;
  /** Rebuild the bootstrap stage even when cached. */
  noCache?: boolean;
  /** Registries to speak plain HTTP to, when `<image>` is pulled (see src/registry/transport.ts). */
  insecure?: string[];
  onEvent?: EventSink;
  signal?: AbortSignal;
}

export interface BuildResult {
  imageDir: string;
  metadata: ImageMetadata;
  plan: Plan;
}

/** Room to plan for on tmpfs: a devbox-sized tree (see workdir.ts). */
const EXPECTED_TREE_BYTES = 2 * 1024 ** 3;

// prettier-ignore
const BUILD_TOOLS = ["mmdebstrap", "mke2fs", "resize2fs", "dumpe2fs", "debugfs", "tar", "unshare", "chroot"];

/** plinth.yaml → a versioned, checksummed image directory. Atomic: all or nothing. */
export async function buildImage(options: BuildOptions): Promise<BuildResult> {
  const emit = options.onEvent ?? noEvents;
  const { signal } = options;
  const plan = await planFor(options);
  requireTools([
    ...BUILD_TOOLS.filter((t) => !(plan.container && t === "mmdebstrap")),
    ...(plan.spec.base.distro === "ubuntu" && !plan.container ? ["ubuntu-keyring"] : []),
    ...outputTools(plan.spec),
  ]);

  const { spec } = plan;
  for (const message of plan.notes)
    emit({ type: "log", stage: "plan", level: "info", message: `note: ${message}` });
  const step = <T>(id: string, fn: () => Promise<T>, cached?: (v: T) => boolean) =>
    stage(emit, id, plan.stages.find((s) => s.id === id)!.title, fn, (v) => ({
      cached: cached?.(v),
    }));
  // An explicit -o is checked before the long bootstrap; a store slot is named after it
  // (its version carries the epoch's date, which the bootstrap decides).
  const outDir = options.outDir && path.resolve(options.outDir);
  if (outDir) await checkOutputDir(outDir, { force: options.force, specFile: plan.specFile });
  const destination = async (epoch: number) => {
    const version = await imageVersion(spec.version, plan.specFile, epoch);
    const dest = outDir ?? slotDir(spec.name, version, plan.buildHash);
    if (!outDir) await checkOutputDir(dest, { force: options.force, specFile: plan.specFile });
    await mkdir(path.dirname(dest), { recursive: true });
    return { version, dest };
  };

  if (process.getuid?.() !== 0 && plan.container) {
    // Rootless with a container base: the layers' owners can be set only inside the user
    // namespace, so fetching and unpacking happen there too, as does choosing the slot.
    if (plan.container.source.kind === "dockerfile")
      throw new UnsupportedError(
        "A Dockerfile base builds as root only for now: buildah runs as root here.",
        "Run the build with sudo, or build the image first and use it as `base: { oci-layout }`.",
      );
    const imageDir = await buildInUserNamespace(
      { specFile: plan.specFile, sets: options.sets ?? [], outDir, force: options.force },
      emit,
      signal,
      { showBootstrap: true, noCache: options.noCache },
    );
    return { imageDir, metadata: await readMetadata(imageDir), plan };
  }
  if (process.getuid?.() !== 0) {
    // Rootless: bootstrap here (mmdebstrap --mode=unshare), the rest in a user namespace.
    const base = await step(
      "bootstrap",
      () => bootstrap(plan.bootstrap, { signal, emit, noCache: options.noCache }),
      (r) => r.cached,
    );
    const { dest } = await destination(base.epoch);
    const imageDir = await buildInUserNamespace(
      { specFile: plan.specFile, sets: options.sets ?? [], outDir: dest, force: options.force },
      emit,
      signal,
    );
    return { imageDir, metadata: await readMetadata(imageDir), plan };
  }
  let tmp: string | undefined;
  let work: string | undefined;
  try {
    work = await makeWorkDir(EXPECTED_TREE_BYTES);
    const scratch = work;
    const { container } = plan;
    const base = await step(
      "bootstrap",
      () =>
        container
          ? containerBootstrap(container, {
              arch: spec.arch,
              sourceDateEpoch: plan.bootstrap.sourceDateEpoch,
              noCache: options.noCache,
              tmpDir: scratch,
              insecure: options.insecure,
              noDevices: inUserNamespace(),
              emit,
              signal,
            })
          : bootstrap(plan.bootstrap, { signal, emit, noCache: options.noCache, tmpDir: scratch }),
      (r) => r.cached,
    );
    const config = container ? (base as ContainerBootstrap).config : undefined;
    const { epoch } = base;
    const { version, dest } = await destination(epoch);
    tmp = await tempBeside(dest);
    const out = tmp;
    const tree = path.join(work, "rootfs");
    // A container base's suite is what its os-release says, known once it is unpacked.
    let suite = spec.base.suite ?? "";
    const packages = await step("customize", async () => {
      await mkdir(tree);
      // In a user namespace device nodes cannot be made; the guest mounts devtmpfs anyway.
      const noDevices = inUserNamespace() ? ["--exclude=./dev/*"] : [];
      await run(
        // prettier-ignore
        ["tar", "-x", "--numeric-owner", "-p", "--xattrs", "--xattrs-include=*", ...noDevices, "-f", base.tarball, "-C", tree],
        { stage: "customize", signal },
      );
      const installed = await customize(tree, spec, {
        version,
        epoch,
        emit,
        signal,
        container: config && { config, packages: plan.bootstrap.packages },
      });
      if (container) suite = (await osRelease(new Rootfs(tree))).codename ?? "unknown";
      const licenses = await licensesOf(
        tree,
        installed.map((p) => p.name),
      );
      return installed.map((p) => ({ ...p, license: licenses.get(p.name) }));
    });
    const kernel = await step("kernel", () => extractKernel(tree, spec, out, scratch, signal));
    await step("ext4", () =>
      makeExt4(tree, path.join(out, "rootfs.ext4"), {
        size: spec.disk.size ? parseSize(spec.disk.size) : undefined,
        shrink: spec.disk.shrink,
        headroom: parseSize(spec.disk.headroom),
        uuid: uuidFromHex(plan.buildHash),
        epoch,
        signal,
      }),
    );
    const outputs = await writeOutputs({
      spec,
      version,
      buildHash: plan.buildHash,
      kernelCmdline: plan.kernelCmdline,
      out,
      work: scratch,
      epoch,
      signal,
      step,
    });
    const metadata = await step("metadata", async () => {
      const artifacts: Artifact[] = [await describeArtifact(out, "rootfs.ext4", "rootfs", "ext4")];
      artifacts.push(await describeArtifact(out, "vmlinuz", "kernel"));
      if (kernel.initrd) artifacts.push(await describeArtifact(out, "initrd.img", "initrd"));
      artifacts.push(...outputs);
      await writeSbom(out, {
        name: spec.name,
        version,
        buildHash: plan.buildHash,
        created: new Date(epoch * 1000).toISOString(),
        distro: spec.base.distro,
        suite,
        packages,
        toolVersion: PLINTH_VERSION,
      });
      artifacts.push(await describeArtifact(out, SBOM_FILE, "sbom", "spdx"));
      // Nothing here may depend on when or where it was built: equal inputs, equal bytes.
      const meta: ImageMetadata = {
        schemaVersion: 1,
        name: spec.name,
        version,
        arch: spec.arch,
        base: {
          distro: spec.base.distro,
          suite,
          ...(container
            ? { image: `${describeSource(container.source)}@${container.digest}` }
            : {}),
        },
        created: new Date(epoch * 1000).toISOString(),
        specDigest: plan.specDigest,
        buildHash: plan.buildHash,
        init: spec.init,
        agent: spec.agent,
        kernel: {
          ...(kernel.version ? { version: kernel.version } : {}),
          cmdline: plan.kernelCmdline,
        },
        artifacts,
        packages: packages.map(({ name, version, arch }) => ({ name, version, arch })),
        spec: portableSpec(spec),
      };
      await writeMetadata(out, meta);
      return meta;
    });
    await replaceDir(out, dest, { force: options.force });
    return { imageDir: dest, metadata, plan };
  } finally {
    // Both were made by this build (mkdtemp): nothing else is ever removed here.
    if (work) await rm(work, { recursive: true, force: true });
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * The spec loaded with its overrides, planned with the environment's SOURCE_DATE_EPOCH
 * and, for a container base, the digest its reference resolves to now (a moved tag is a
 * new build).
 */
async function planFor(
  options: Pick<BuildOptions, "specFile" | "sets" | "insecure" | "signal">,
): Promise<Plan> {
  const loaded = loadSpec(options.specFile, { sets: options.sets });
  if (!loaded.spec) throw new SpecError(loaded.diagnostics);
  const source = containerSource(loaded.spec.base);
  return planBuild(loaded.spec, {
    specFile: path.resolve(options.specFile),
    sourceDateEpoch: sourceDateEpoch(),
    baseDigest:
      source &&
      (await resolveDigest(source, {
        arch: loaded.spec.arch,
        insecure: options.insecure,
        signal: options.signal,
      })),
  });
}

/**
 * The image for a spec: reused from the local store when one was built from the same
 * build hash (same spec, same inputs), else built now.
 */
export async function ensureImage(
  options: BuildOptions,
): Promise<{ imageDir: string; reused: boolean }> {
  const plan = await planFor(options);
  const existing = options.noCache
    ? undefined
    : await findByBuildHash(plan.spec.name, plan.buildHash);
  if (existing) {
    options.onEvent?.({ type: "log", level: "info", message: `image up to date: ${existing}` });
    return { imageDir: existing, reused: true };
  }
  return { imageDir: (await buildImage(options)).imageDir, reused: false };
}

/**
 * What `<image>` means everywhere (CLI, SDK): a spec file (built unless the store already
 * has it), an image directory, `name[:version]` in the store, or a registry reference or
 * metadata.json URL (pulled unless an earlier pull of it is in the store).
 */
export async function resolveImage(
  ref: string,
  options: Omit<BuildOptions, "specFile"> = {},
): Promise<{ imageDir: string; reused: boolean }> {
  if (/\.ya?ml$/.test(ref) && existsSync(ref)) return ensureImage({ ...options, specFile: ref });
  if (!existsSync(ref) && isRemoteRef(ref)) return ensurePulled(ref, options);
  return { imageDir: await resolveImageRef(ref), reused: true };
}
