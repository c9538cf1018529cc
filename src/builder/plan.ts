import { readFileSync } from "node:fs";
import type { Spec } from "../spec/schema.js";
import { UnsupportedError } from "../errors.js";
import { sha256, stableStringify } from "../util/hash.js";
import { outputStages } from "./outputs/index.js";
import { kernelPackage, mapComponents, mapPackages } from "./distro-map.js";
import { defaultMirror, securityMirror } from "./bootstrap/mirror.js";
import { readAgentBinary } from "./customize/agent.js";
import { MINIMAL_INIT } from "../contract.js";
import { containerSource, describeSource, type ContainerSource } from "./container/source.js";

/** Bumped when plinth changes what the bootstrap produces, so old cache entries are not reused. */
export const STAGE_FORMAT = 1;

/**
 * Bumped when plinth changes what it puts into an image after the bootstrap (customize,
 * init, guest-config…), so an image built by an older plinth is not taken as up to date.
 * 2: guest-config, /etc/plinth-release, the content sections of issue 4.
 * 3: the static Go agent, PID 1 of minimal images (no Node.js, no tini, no shell init).
 * 4: one build epoch (pinned inode times), per-machine identity made on first boot.
 * 5: an SPDX 2.3 SBOM (sbom.spdx.json) in every image.
 * 6: guest-config parses the command line in the shell and sets the network with one ip.
 */
export const IMAGE_FORMAT = 6;

export interface BootstrapPlan {
  distro: Spec["base"]["distro"];
  suite: string;
  arch: string;
  variant: string;
  components: string[];
  /** Sorted, de-duplicated: the spec's packages plus what plinth itself needs. */
  packages: string[];
  /** apt source lines, in order. */
  sources: string[];
  keyrings: string[];
  /**
   * SOURCE_DATE_EPOCH, when the caller set one: part of the key, since mmdebstrap stamps
   * the files it writes with it. Without it the bootstrap picks its own epoch (cache.ts).
   */
  sourceDateEpoch?: number;
  /** mmdebstrap's mode: `root` as root, `unshare` otherwise. */
  mode: "root" | "unshare";
  /** Content hash of everything above that changes the result (not the mode). */
  hash: string;
}

/** A container base (`base: { image | oci-layout | tarball | dockerfile }`) as the bootstrap. */
export interface ContainerPlan {
  source: ContainerSource;
  /** The image manifest's digest for the spec's arch (see container/source.ts). */
  digest: string;
  hash: string;
}

export interface Plan {
  spec: Spec;
  specFile: string;
  /** Hash of the resolved spec and of every file it copies in. */
  specDigest: string;
  bootstrap: BootstrapPlan;
  /** Set for a container base; then `bootstrap` describes only the packages to install. */
  container?: ContainerPlan;
  /** Hash of the whole build: equal hashes give equal images. */
  buildHash: string;
  kernelCmdline: string;
  /** What plinth changed to build the spec on this base (renamed or dropped packages). */
  notes: string[];
  stages: { id: string; title: string }[];
}

const STABLE_LESS = new Set(["sid", "unstable", "experimental", "rc-buggy"]);

export interface PlanOptions {
  specFile: string;
  isRoot?: boolean;
  /** SOURCE_DATE_EPOCH, if set (see `sourceDateEpoch()`). */
  sourceDateEpoch?: number;
  /** A container base's manifest digest (`resolveDigest`); without it, its reference stands in. */
  baseDigest?: string;
}

export function planBuild(spec: Spec, options: PlanOptions): Plan {
  if (spec.base.distro === "alpine") {
    throw new UnsupportedError(
      "Alpine bootstrap is not implemented yet; only debian and ubuntu bases build today.",
      "Build with --set base.distro=debian --set base.suite=bookworm for now.",
    );
  }
  // Another distribution's names, mapped onto this base once; each mapping is a note.
  const mapped = mapPackages(spec);
  const components = mapComponents(spec);
  const kernelNote = kernelPackage(spec).note;
  const bootstrap = planBootstrap(
    spec,
    mapped.packages,
    components.components,
    options.isRoot ?? process.getuid?.() === 0,
    options.sourceDateEpoch,
  );
  const source = containerSource(spec.base);
  const container = source && {
    source,
    digest: options.baseDigest ?? describeSource(source),
    hash: sha256(
      stableStringify({
        f: STAGE_FORMAT,
        container: options.baseDigest ?? describeSource(source),
        arch: spec.arch,
        sourceDateEpoch: options.sourceDateEpoch,
      }),
    ),
  };
  const specDigest = digestSpec(spec);
  const init = spec.init === "minimal" ? `init=${MINIMAL_INIT}` : undefined;
  const kernelCmdline = [
    "console=ttyS0",
    "root=/dev/vda",
    "rw",
    "panic=-1",
    init,
    spec.kernel.cmdline,
  ]
    .filter(Boolean)
    .join(" ");
  return {
    spec,
    specFile: options.specFile,
    specDigest,
    bootstrap,
    ...(container ? { container } : {}),
    buildHash: sha256(String(IMAGE_FORMAT), container?.hash ?? bootstrap.hash, specDigest),
    kernelCmdline,
    notes: [...mapped.notes, ...(kernelNote ? [kernelNote] : []), ...components.notes],
    stages: [
      {
        id: "bootstrap",
        title: source
          ? `container base ${describeSource(source)}`
          : `bootstrap ${spec.base.distro} ${spec.base.suite}`,
      },
      { id: "customize", title: "customize rootfs" },
      { id: "kernel", title: "kernel and initrd" },
      { id: "ext4", title: "rootfs.ext4" },
      ...outputStages(spec),
      { id: "metadata", title: "metadata and checksums" },
    ],
  };
}

export function impliedPackages(spec: Spec): string[] {
  const pkgs: string[] = [];
  if (spec.init === "systemd") pkgs.push("systemd-sysv", "udev");
  // The agent is PID 1 there and needs nothing in the image; guest-config uses iproute2
  // for plinth.ip=, and fstab entries need mount(8) (the apt variant has neither).
  if (spec.init === "minimal") pkgs.push("iproute2", "mount");
  if (spec.ssh) pkgs.push("openssh-server");
  if (spec.firewall) pkgs.push(spec.firewall.backend);
  if (spec.logrotate?.length) pkgs.push("logrotate");
  if (spec.git) pkgs.push("git");
  if (spec.locale && !/^C\./.test(spec.locale)) pkgs.push("locales");
  const kernelPkg = kernelPackage(spec).name;
  if (kernelPkg) pkgs.push(kernelPkg);
  if (spec.users.some((u) => u.sudo)) pkgs.push("sudo");
  return pkgs;
}

function planBootstrap(
  spec: Spec,
  specPackages: string[],
  components: string[],
  isRoot: boolean,
  sourceDateEpoch: number | undefined,
): BootstrapPlan {
  const { distro, variant } = spec.base;
  const suite = spec.base.suite ?? "";
  const mirror = (spec.base.mirror ?? defaultMirror(distro)).replace(/\/$/, "");
  const comps = components.join(" ");
  const sources = [`deb ${mirror} ${suite} ${comps}`];
  if (!STABLE_LESS.has(suite)) {
    sources.push(`deb ${mirror} ${suite}-updates ${comps}`);
    const security = securityMirror(distro, mirror);
    sources.push(`deb ${security} ${suite}-security ${comps}`);
  }
  const keyrings = distro === "ubuntu" ? ["/usr/share/keyrings/ubuntu-archive-keyring.gpg"] : [];
  const packages = [...new Set([...specPackages, ...impliedPackages(spec)])].sort();
  // Everything that determines the bootstrap result, and so its cache key (not the mode).
  const content = {
    distro,
    suite,
    arch: spec.arch,
    variant,
    components,
    packages,
    sources,
    keyrings,
    ...(sourceDateEpoch === undefined ? {} : { sourceDateEpoch }),
  };
  const hash = sha256(stableStringify({ f: STAGE_FORMAT, ...content }));
  return { ...content, mode: isRoot ? "root" : "unshare", hash };
}

/**
 * The resolved spec with host paths replaced by the digest of their bytes: the same
 * inputs give the same value wherever the spec is checked out. Kept in metadata.json.
 */
export function portableSpec(spec: Spec): Spec {
  const content = (p: string | undefined) => (p ? `sha256:${sha256(readFileSync(p))}` : undefined);
  return {
    ...spec,
    files: spec.files.map((f) => ({ ...f, source: content(f.source) })),
    kernel: {
      ...spec.kernel,
      path: content(spec.kernel.path),
      initrd: content(spec.kernel.initrd),
    },
  };
}

/** Digest of the resolved spec, the bytes of every file it copies in, and the agent. */
export function digestSpec(spec: Spec): string {
  // The agent is part of the image: a new agent is a new build.
  const agent = spec.agent ? sha256(readAgentBinary(spec.arch)) : "";
  return sha256(stableStringify(portableSpec(spec)), agent);
}
