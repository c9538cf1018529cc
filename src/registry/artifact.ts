import { z } from "zod";
import { UserError } from "../errors.js";
import type { Artifact } from "../image/metadata.js";
import { MEDIA, type Descriptor } from "./client.js";

/**
 * How a plinth image looks in a registry: an OCI image manifest with its own
 * `artifactType`, metadata.json as the config, and one layer per artifact with a media
 * type naming its kind (`+zstd` when compressed). Tools that know OCI artifacts (skopeo,
 * oras, crane, any registry) carry it without knowing plinth.
 */
export const ARTIFACT_TYPE = "application/vnd.plinth.image.v1";
export const CONFIG_TYPE = "application/vnd.plinth.image.config.v1+json";
export const TITLE = "org.opencontainers.image.title";

/** Kinds worth compressing: large and not compressed already (vmlinuz, initrd, qcow2, vmdk and ova are). */
const COMPRESSIBLE = new Set<Artifact["kind"]>(["rootfs", "disk", "vmlinux"]);
const MIN_COMPRESS = 1024 * 1024;

export function compresses(a: Artifact): boolean {
  return COMPRESSIBLE.has(a.kind) && a.size >= MIN_COMPRESS;
}

export function layerType(a: Artifact, compressed: boolean): string {
  return `application/vnd.plinth.${a.kind}${a.format ? `.${a.format}` : ""}.v1${compressed ? "+zstd" : ""}`;
}

export function imageManifest(
  config: Descriptor,
  layers: Descriptor[],
  annotations: Record<string, string>,
): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.manifest,
      artifactType: ARTIFACT_TYPE,
      config,
      layers,
      annotations,
    }),
  );
}

const DescriptorSchema = z.object({
  mediaType: z.string(),
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  size: z.number().int().nonnegative(),
  annotations: z.record(z.string(), z.string()).optional(),
  artifactType: z.string().optional(),
  platform: z
    .object({ architecture: z.string(), os: z.string(), variant: z.string().optional() })
    .optional(),
});

export const ManifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: DescriptorSchema,
  layers: z.array(DescriptorSchema),
  annotations: z.record(z.string(), z.string()).optional(),
});

export const IndexSchema = z.object({
  schemaVersion: z.literal(2),
  manifests: z.array(DescriptorSchema),
});

/** A fetched manifest as a plinth image, or one sentence saying what it is instead. */
export function plinthManifest(bytes: Buffer, ref: string): z.infer<typeof ManifestSchema> {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new UserError("NOT_PLINTH_IMAGE", `${ref}'s manifest is not JSON.`);
  }
  const parsed = ManifestSchema.safeParse(json);
  const type = parsed.success ? parsed.data.config.mediaType : undefined;
  if (!parsed.success || type !== CONFIG_TYPE)
    throw new UserError(
      "NOT_PLINTH_IMAGE",
      `${ref} is not a plinth image (its config is ${type ?? "missing"}, not ${CONFIG_TYPE}).`,
      {
        hint: "Pull images pushed with `plinth push`; a container image is a base (`base: { image: … }`), not an image to boot.",
      },
    );
  return parsed.data;
}
