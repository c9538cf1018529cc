import { readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { ChecksumError } from "../errors.js";
import type { Spec } from "../spec/schema.js";
import { sha256File } from "../util/hash.js";

export interface Artifact {
  name: string;
  kind: "rootfs" | "kernel" | "initrd";
  format?: string;
  size: number;
  sha256: string;
}

export interface ImageMetadata {
  schemaVersion: 1;
  name: string;
  version: string;
  arch: string;
  base: { distro: string; suite: string };
  created: string;
  specDigest: string;
  buildHash: string;
  init: "systemd" | "minimal";
  agent: boolean;
  kernel: { version?: string; cmdline: string };
  artifacts: Artifact[];
  packages: { name: string; version: string; arch: string }[];
  stages: { id: string; durationMs: number; cached?: boolean }[];
  /** The resolved spec (host paths replaced by digests): what `plinth check` verifies. */
  spec: Spec;
}

export const METADATA = "metadata.json";
export const SUMS = "SHA256SUMS";

export async function describeArtifact(
  dir: string,
  name: string,
  kind: Artifact["kind"],
  format?: string,
): Promise<Artifact> {
  const file = path.join(dir, name);
  const [{ size }, sha256] = await Promise.all([stat(file), sha256File(file)]);
  return { name, kind, ...(format ? { format } : {}), size, sha256 };
}

/** Write metadata.json and a `sha256sum -c` compatible SHA256SUMS (covering metadata.json too). */
export async function writeMetadata(dir: string, meta: ImageMetadata): Promise<void> {
  await writeFile(path.join(dir, METADATA), JSON.stringify(meta, null, 2) + "\n");
  const metaSum = await sha256File(path.join(dir, METADATA));
  const lines = [...meta.artifacts.map((a) => `${a.sha256}  ${a.name}`), `${metaSum}  ${METADATA}`];
  await writeFile(path.join(dir, SUMS), lines.join("\n") + "\n");
}

export async function readMetadata(dir: string): Promise<ImageMetadata> {
  return JSON.parse(await readFile(path.join(dir, METADATA), "utf8")) as ImageMetadata;
}

/** Re-hash every artifact and compare with metadata.json. */
export async function verifyImage(dir: string): Promise<ImageMetadata> {
  const meta = await readMetadata(dir);
  for (const a of meta.artifacts) {
    const actual = await sha256File(path.join(dir, a.name));
    if (actual !== a.sha256) throw new ChecksumError(path.join(dir, a.name), a.sha256, actual);
  }
  return meta;
}
