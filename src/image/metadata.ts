import { stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { ChecksumError } from "../errors.js";
import { OUTPUTS, type Spec } from "../spec/schema.js";
import { sha256File } from "../util/hash.js";
import { readStateFile } from "../util/state-file.js";

const ArtifactSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9._-]+$/),
  /** rootfs, kernel, initrd and sbom are in every image; the rest are the spec's `outputs`. */
  kind: z.union([
    z.enum(["rootfs", "kernel", "initrd", "sbom"]),
    z.enum(OUTPUTS).exclude(["ext4"]),
  ]),
  format: z.string().optional(),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});

/** metadata.json: parsed, never cast, so a corrupt or older file is one clear error. */
export const ImageMetadataSchema = z.object({
  schemaVersion: z.literal(1),
  name: z.string(),
  // It names a directory of the store: no `/`, no leading dot (see store/images.ts).
  version: z.string().regex(/^[0-9A-Za-z][0-9A-Za-z.+~_-]*$/, "must be an image version"),
  arch: z.string(),
  // `image`: a container base, as `<source>@<manifest digest>`.
  base: z.object({ distro: z.string(), suite: z.string(), image: z.string().optional() }),
  created: z.string(),
  specDigest: z.string(),
  buildHash: z.string().regex(/^[0-9a-f]{16,}$/),
  init: z.enum(["systemd", "minimal"]),
  agent: z.boolean(),
  kernel: z.object({ version: z.string().optional(), cmdline: z.string() }),
  artifacts: z.array(ArtifactSchema).min(1),
  packages: z.array(z.object({ name: z.string(), version: z.string(), arch: z.string() })),
  /** The resolved spec (host paths replaced by digests): what `plinth check` verifies. */
  spec: z.custom<Spec>((v) => typeof v === "object" && v !== null && !Array.isArray(v)),
});

export type Artifact = z.infer<typeof ArtifactSchema>;
export type ImageMetadata = z.infer<typeof ImageMetadataSchema>;

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
  return readStateFile(path.join(dir, METADATA), ImageMetadataSchema, "image metadata", {
    hint: "Rebuild the image with `plinth build` (it may come from an older or newer plinth).",
  });
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
