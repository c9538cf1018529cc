import { lstat, readFile, readdir, readlink } from "node:fs/promises";
import path from "node:path";
import { createHash } from "node:crypto";
import { z } from "zod";
import { UserError } from "../../errors.js";
import { RegistryClient } from "../../registry/client.js";
import {
  checkDigest,
  isIndex,
  parseJson,
  platformEntry,
  sha256Of,
} from "../../registry/manifest.js";
import { parseRegistryRef } from "../../registry/reference.js";
import type { Spec } from "../../spec/schema.js";
import { sha256File, stableStringify } from "../../util/hash.js";

/** Where a container base comes from (spec `base:`), host paths already absolute. */
export type ContainerSource =
  | { kind: "image"; ref: string }
  | { kind: "oci-layout"; dir: string; ref?: string }
  | { kind: "tarball"; file: string }
  | { kind: "dockerfile"; file: string; context: string; args: Record<string, string> };

export function containerSource(base: Spec["base"]): ContainerSource | undefined {
  if (base.image) return { kind: "image", ref: base.image };
  if (base["oci-layout"]) return { kind: "oci-layout", dir: base["oci-layout"], ref: base.ref };
  if (base.tarball) return { kind: "tarball", file: base.tarball };
  if (base.dockerfile)
    return {
      kind: "dockerfile",
      file: base.dockerfile,
      context: base.context ?? path.dirname(base.dockerfile),
      args: base.args ?? {},
    };
  return undefined;
}

/** How a source reads in messages and in metadata.json. */
export function describeSource(s: ContainerSource): string {
  // A pinned digest is dropped: metadata.json appends the one the build used.
  if (s.kind === "image") return s.ref.replace(/@sha256:[0-9a-f]{64}$/, "");
  if (s.kind === "oci-layout") return `oci-layout:${s.dir}${s.ref ? `:${s.ref}` : ""}`;
  if (s.kind === "tarball") return `tarball:${s.file}`;
  return `dockerfile:${s.file}`;
}

export interface ResolveOptions {
  arch: string;
  insecure?: string[];
  signal?: AbortSignal;
}

/**
 * What identifies the base's content, and so keys its unpacked tree in the cache: the
 * image manifest's digest for this arch (a registry or a layout), the tarball's sha256,
 * or, for a Dockerfile, a hash of it and of every file in its context.
 */
export async function resolveDigest(s: ContainerSource, o: ResolveOptions): Promise<string> {
  if (s.kind === "image") {
    const ref = parseRegistryRef(s.ref);
    const client = new RegistryClient(ref.registry, { insecure: o.insecure, signal: o.signal });
    const got = await client.getManifest(ref.repository, ref.digest ?? ref.tag!);
    if (ref.digest) checkDigest(got.bytes, ref.digest, s.ref);
    return isIndex(got.mediaType)
      ? platformEntry(got.bytes, o.arch, s.ref, true).digest
      : sha256Of(got.bytes);
  }
  if (s.kind === "oci-layout") return (await layoutManifest(s.dir, s.ref, o.arch)).digest;
  if (s.kind === "tarball") return `sha256:${await sha256File(s.file)}`;
  return `sha256:${await hashContext(s.file, s.context, s.args)}`;
}

/** The image manifest of an OCI layout for `arch`: by ref.name, else its only image. */
export async function layoutManifest(
  dir: string,
  ref: string | undefined,
  arch: string,
): Promise<{ digest: string; bytes: Buffer }> {
  const what = `the OCI layout ${dir}`;
  const indexBytes = await readFile(path.join(dir, "index.json")).catch(() => {
    throw new UserError("BAD_BASE", `${what} has no index.json.`, {
      hint: "Point `oci-layout` at a directory written by `skopeo copy … oci:DIR` or `buildah push … oci:DIR`.",
    });
  });
  const entries = parseJson(indexBytes, LayoutIndex, `${what}'s index.json`).manifests;
  const named = ref
    ? entries.filter((m) => m.annotations?.["org.opencontainers.image.ref.name"] === ref)
    : entries;
  if (named.length !== 1)
    throw new UserError(
      "BAD_BASE",
      ref
        ? `${what} has no image named "${ref}".`
        : `${what} holds ${named.length} images; name one with \`ref\`.`,
    );
  let digest = named[0]!.digest;
  let bytes = await blob(dir, digest);
  if (isIndex(named[0]!.mediaType) || isIndex(jsonMediaType(bytes))) {
    digest = platformEntry(bytes, arch, what, true).digest;
    bytes = await blob(dir, digest);
  }
  return { digest, bytes };
}

/** A blob of a layout, verified against its digest. */
export async function blob(dir: string, digest: string): Promise<Buffer> {
  const file = blobPath(dir, digest);
  const bytes = await readFile(file).catch(() => {
    throw new UserError("BAD_BASE", `The OCI layout ${dir} lacks blob ${digest}.`);
  });
  checkDigest(bytes, digest, file);
  return bytes;
}

export const blobPath = (dir: string, digest: string): string => {
  const [algo, hex] = digest.split(":");
  if (algo !== "sha256" || !/^[0-9a-f]{64}$/.test(hex ?? ""))
    throw new UserError("BAD_BASE", `Unsupported digest "${digest}" (only sha256 is).`);
  return path.join(dir, "blobs", "sha256", hex!);
};

const LayoutIndex = z.object({
  manifests: z.array(
    z.object({
      digest: z.string(),
      mediaType: z.string().optional(),
      annotations: z.record(z.string(), z.string()).optional(),
    }),
  ),
});

function jsonMediaType(bytes: Buffer): string | undefined {
  try {
    return (JSON.parse(bytes.toString("utf8")) as { mediaType?: string }).mediaType;
  } catch {
    return undefined; // not JSON: parsing it as a manifest says so
  }
}

/** The build args, the Dockerfile, and each context entry's path, type, mode and bytes, in sorted order. */
async function hashContext(
  dockerfile: string,
  context: string,
  args: Record<string, string>,
): Promise<string> {
  const h = createHash("sha256");
  h.update(stableStringify(args));
  h.update(await readFile(dockerfile));
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const p = path.join(dir, name);
      const st = await lstat(p);
      h.update(`\0${path.relative(context, p)}\0${st.mode}\0`);
      if (st.isDirectory()) await walk(p);
      else if (st.isFile()) h.update(await sha256File(p));
      else if (st.isSymbolicLink()) h.update(await readlink(p));
    }
  };
  await walk(context);
  return h.digest("hex");
}
