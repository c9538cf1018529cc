import type { Spec } from "../spec/schema.js";

/**
 * Alpine package names and their Debian/Ubuntu counterparts, so a spec written for Alpine
 * builds on a Debian base (`--set base.distro=debian`) without a second, hand-edited spec.
 * `null`: the package has no counterpart because plinth provides what it does (the init
 * system, the base layout).
 */
const ALPINE_TO_DEBIAN: Record<string, string | null> = {
  "alpine-base": null,
  "alpine-baselayout": null,
  openrc: null,
  "busybox-initscripts": null,
  "busybox-openrc": null,
  "build-base": "build-essential",
  "linux-headers": "linux-libc-dev",
  "musl-dev": "libc6-dev",
  openssh: "openssh-server",
  "py3-pip": "python3-pip",
  "py3-virtualenv": "python3-virtualenv",
  shadow: "passwd",
  "util-linux-misc": "util-linux",
};

/** Ubuntu-only names that have a Debian counterpart. */
const UBUNTU_TO_DEBIAN: Record<string, string | null> = {
  "ubuntu-minimal": null,
  "ubuntu-standard": null,
};

export interface MappedPackages {
  packages: string[];
  /** One line per package that was renamed or dropped, for the build log. */
  notes: string[];
}

/** The spec's packages, in the target distribution's names. */
export function mapPackages(spec: Spec): MappedPackages {
  const { distro } = spec.base;
  const notes: string[] = [];
  const packages: string[] = [];
  for (const name of spec.packages) {
    const alpine = distro !== "alpine" && name in ALPINE_TO_DEBIAN;
    const ubuntu = distro === "debian" && name in UBUNTU_TO_DEBIAN;
    if (!alpine && !ubuntu) {
      packages.push(name);
      continue;
    }
    const from = alpine ? "Alpine" : "Ubuntu";
    const to = (alpine ? ALPINE_TO_DEBIAN : UBUNTU_TO_DEBIAN)[name];
    if (to) {
      packages.push(to);
      notes.push(`package ${name} is ${from}'s name; installing ${to} on ${distro}`);
    } else {
      notes.push(`package ${name} (${from}) is left out on ${distro}: plinth provides its role`);
    }
  }
  return { packages, notes };
}

const DEFAULT_KERNELS: Record<string, Record<string, string>> = {
  debian: { amd64: "linux-image-cloud-amd64", arm64: "linux-image-cloud-arm64" },
  ubuntu: { amd64: "linux-image-virtual", arm64: "linux-image-virtual" },
};

// Kernel packages named for one distribution only: Ubuntu's metapackages, Alpine's flavours.
const UBUNTU_KERNEL = /^linux-image-(generic|virtual|kvm)(-hwe-[\d.]+)?$/;
const ALPINE_KERNEL = /^linux-(virt|lts|edge)$/;

/** The kernel package to install, if any: the spec's (in this distribution's name) or the default. */
export function kernelPackage(spec: Spec): { name?: string; note?: string } {
  const fallback = DEFAULT_KERNELS[spec.base.distro]?.[spec.arch];
  const wanted = spec.kernel.package;
  if (!wanted) return { name: spec.kernel.path || spec.kernel.url ? undefined : fallback };
  const foreign =
    (spec.base.distro === "debian" && UBUNTU_KERNEL.test(wanted)) ||
    (spec.base.distro !== "alpine" && ALPINE_KERNEL.test(wanted));
  if (!foreign || !fallback) return { name: wanted };
  return {
    name: fallback,
    note: `kernel package ${wanted} is not ${spec.base.distro}'s; installing ${fallback}`,
  };
}

const UBUNTU_COMPONENTS = new Set(["restricted", "universe", "multiverse"]);

/** Archive components for the target: Ubuntu's extra ones have no Debian counterpart. */
export function mapComponents(spec: Spec): { components: string[]; notes: string[] } {
  const { distro, components } = spec.base;
  const fallback = distro === "ubuntu" ? ["main", "universe"] : ["main"];
  if (!components) return { components: fallback, notes: [] };
  if (distro !== "debian") return { components, notes: [] };
  const dropped = components.filter((c) => UBUNTU_COMPONENTS.has(c));
  const kept = components.filter((c) => !UBUNTU_COMPONENTS.has(c));
  return {
    components: kept.length ? kept : ["main"],
    notes: dropped.length
      ? [`archive components ${dropped.join(", ")} are Ubuntu's; Debian's main has their packages`]
      : [],
  };
}
