import semver from "semver";
import { UserError } from "../errors.js";
import type { ImageMetadata } from "../image/metadata.js";
import { listSlots } from "../store/images.js";
import { PROTOCOL_VERSION } from "../agent/protocol/constants.js";
import type { SnapshotManifest } from "./manifest.js";

/** The only QEMU machine a snapshot is taken on (a kernel boot); see docs/snapshots.md. */
export const SNAPSHOT_MACHINE = "microvm";

export interface BaseMatch {
  imageDir: string;
  meta: ImageMetadata;
  /** Restorable, but the user should know (a different PATCH, another QEMU version). */
  warnings: string[];
}

const label = (b: { name: string; version: string }) => `${b.name} ${b.version}`;
const sameDigests = (s: SnapshotManifest, m: ImageMetadata) =>
  s.base.buildHash === m.buildHash &&
  s.base.artifacts.every((a) =>
    m.artifacts.some((b) => b.name === a.name && b.sha256 === a.sha256),
  );

/**
 * Kelpie's version rules: the image the snapshot was taken on (by digest), else one of the
 * same name and MAJOR.MINOR (a different PATCH: restored with a warning); a different
 * MAJOR.MINOR or arch, another machine type or agent protocol major is refused.
 */
export async function findBase(s: SnapshotManifest, qemuVersion: string): Promise<BaseMatch> {
  const refuse = (code: string, message: string, hint: string) => {
    throw new UserError(code, message, { hint });
  };
  if (s.machine.type !== SNAPSHOT_MACHINE)
    refuse(
      "SNAPSHOT_MACHINE",
      `Snapshot ${s.name} was taken on QEMU machine type ${s.machine.type}; this plinth restores ${SNAPSHOT_MACHINE} snapshots only.`,
      "Restore it with the plinth that took it.",
    );
  if (s.agent.protocol.major !== PROTOCOL_VERSION.major)
    refuse(
      "SNAPSHOT_PROTOCOL",
      `Snapshot ${s.name} runs agent protocol ${s.agent.protocol.major}.${s.agent.protocol.minor}; this plinth speaks ${PROTOCOL_VERSION.major}.x.`,
      "Restore it with a plinth of the same agent protocol major.",
    );
  const slots = await listSlots(s.base.name);
  const want = semver.parse(s.base.version);
  const exact = slots.find((x) => sameDigests(s, x.meta));
  // Of the same MAJOR.MINOR, the newest that can restore it, else the one that says why not.
  const size = rootfsSize(s.base);
  const minor = slots.filter((x) => want && sameMinor(want, x.meta.version));
  const sameArch = minor.filter((x) => x.meta.arch === s.base.arch);
  const near =
    exact ??
    sameArch.find((x) => size === undefined || rootfsSize(x.meta) === size) ??
    sameArch[0] ??
    minor[0];
  if (!near) {
    if (slots.length === 0)
      refuse(
        "SNAPSHOT_BASE_MISSING",
        `Snapshot ${s.name} needs image ${label(s.base)} (build ${s.base.buildHash.slice(0, 12)}), which is not in this store.`,
        `Pull it (\`plinth pull <registry>/${s.base.name}:${s.base.version}\`) or build it, then restore again.`,
      );
    refuse(
      "SNAPSHOT_VERSION",
      `Snapshot ${s.name} was taken on ${label(s.base)}; the store has ${slots.map((x) => label(x.meta)).join(", ")}, and a different MAJOR.MINOR cannot restore it.`,
      `Pull or build ${label(s.base)}, then restore again.`,
    );
  }
  const base = near!;
  if (base.meta.arch !== s.base.arch)
    refuse(
      "SNAPSHOT_ARCH",
      `Can't restore an ${s.base.arch} snapshot on a different base: ${label(base.meta)} is ${base.meta.arch}.`,
      `Restore it on an ${s.base.arch} image of ${s.base.name}.`,
    );
  // The saved guest's ext4 and virtio-blk sizes refer to the old disk: another size cannot do.
  const baseSize = rootfsSize(base.meta);
  if (!exact && size !== undefined && baseSize !== size)
    refuse(
      "SNAPSHOT_DISK",
      `Snapshot ${s.name} was taken on a ${size}-byte rootfs; ${label(base.meta)}'s is ${baseSize} bytes, so the guest's disk would change size under it.`,
      `Restore it on ${label(s.base)} itself.`,
    );
  const warnings: string[] = [];
  if (!exact)
    warnings.push(
      `Snapshot ${s.name} was taken on ${label(s.base)}; restoring it on ${label(base.meta)} (same MAJOR.MINOR, another PATCH): the guest's cached view of files the new base changed may not match the disk.`,
    );
  if (s.qemu.version !== qemuVersion)
    warnings.push(
      `Snapshot ${s.name} was saved by QEMU ${s.qemu.version}; this host has ${qemuVersion}.`,
    );
  return { imageDir: base.dir, meta: base.meta, warnings };
}

function rootfsSize(b: { artifacts: { kind: string; size?: number }[] }): number | undefined {
  return b.artifacts.find((a) => a.kind === "rootfs")?.size;
}

function sameMinor(want: semver.SemVer, version: string): boolean {
  const v = semver.parse(version);
  return !!v && v.major === want.major && v.minor === want.minor;
}
