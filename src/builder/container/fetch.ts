import { existsSync } from "node:fs";
import { lstat, mkdtemp, readFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { UserError } from "../../errors.js";
import { run } from "../../host/exec.js";
import { ManifestSchema } from "../../registry/artifact.js";
import { RegistryClient } from "../../registry/client.js";
import { checkDigest, parseJson } from "../../registry/manifest.js";
import { movePart, partFile, withPart } from "../../registry/parts.js";
import { parseRegistryRef } from "../../registry/reference.js";
import { buildDockerfile } from "./dockerfile.js";
import { sha256File } from "../../util/hash.js";
import { blob, blobPath, layoutManifest, type ContainerSource } from "./source.js";

/** The parts of an OCI image config plinth keeps (image-spec config.md). */
export const ImageConfigSchema = z.object({
  architecture: z.string().optional(),
  created: z.string().optional(),
  config: z
    .object({
      Env: z.array(z.string()).nullish(),
      WorkingDir: z.string().nullish(),
      User: z.string().nullish(),
      Entrypoint: z.array(z.string()).nullish(),
      Cmd: z.array(z.string()).nullish(),
    })
    .nullish(),
});
export type ImageConfig = z.infer<typeof ImageConfigSchema>;

export interface FetchedImage {
  config: ImageConfig;
  /** Layer files, lowest first, each verified against its digest. */
  layers: string[];
}

/**
 * The config and layers of the image `digest` names, in `work` (a scratch dir the caller
 * removes). Nothing is unpacked until every layer's digest has checked out.
 */
export async function fetchImage(
  s: ContainerSource,
  digest: string,
  o: { arch: string; work: string; insecure?: string[]; noCache?: boolean; signal?: AbortSignal },
): Promise<FetchedImage> {
  if (s.kind === "image") return fromRegistry(s.ref, digest, o);
  if (s.kind === "oci-layout") return fromLayout(s.dir, s.ref, o.arch, digest);
  if (s.kind === "dockerfile") {
    const layout = await buildDockerfile(s, path.join(o.work, "layout"), o);
    return fromLayout(layout, undefined, o.arch);
  }
  // The cache key is this file's digest: it must still be the file the plan hashed.
  if (`sha256:${await sha256File(await regularFile(s.file))}` !== digest)
    throw new UserError("BAD_BASE", `${s.file} changed while the build was starting.`, {
      hint: "Build again.",
    });
  // A tarball: an OCI layout (skopeo's oci-archive:) or a docker-archive (docker save).
  const dir = await mkdtemp(path.join(o.work, "tarball-"));
  await run(["tar", "-x", "-f", s.file, "-C", dir], { stage: "bootstrap", signal: o.signal });
  if (existsSync(path.join(dir, "index.json"))) return fromLayout(dir, undefined, o.arch);
  if (existsSync(path.join(dir, "manifest.json"))) return fromDockerArchive(dir, s.file);
  throw new UserError(
    "BAD_BASE",
    `${s.file} is neither an OCI archive (index.json) nor a docker-archive (manifest.json).`,
    { hint: "Make one with `skopeo copy … oci-archive:FILE` or `docker save`." },
  );
}

// Tar layers, as image-spec and Docker name them: anything else is not a container image.
const LAYER = /^application\/vnd\.(oci\.image\.layer\.v1\.tar|docker\.image\.rootfs\.diff\.tar)/;

function parseManifest(bytes: Buffer, what: string) {
  const m = parseJson(bytes, ManifestSchema, `${what}'s manifest`);
  const other = m.layers.find((l) => !LAYER.test(l.mediaType));
  if (other)
    throw new UserError(
      "BAD_BASE",
      `${what} is not a container image: it has a layer of type ${other.mediaType}.`,
      {
        hint: "A container base needs an image of tar layers (a plinth image is booted, not built on).",
      },
    );
  return m;
}

/** `file`, refused unless it is a regular file (a link or a FIFO in an archive is not a blob). */
async function regularFile(file: string): Promise<string> {
  const st = await lstat(file).catch(() => undefined);
  if (!st?.isFile()) throw new UserError("BAD_BASE", `${file} is missing or not a regular file.`);
  return file;
}

function parseConfig(bytes: Buffer, what: string, arch?: string): ImageConfig {
  const c = { data: parseJson(bytes, ImageConfigSchema, `${what}'s image config`) };
  if (arch && c.data.architecture && c.data.architecture !== arch)
    throw new UserError(
      "BAD_BASE",
      `${what} is a ${c.data.architecture} image; the spec builds ${arch}.`,
      { hint: `Use the ${arch} image, or set \`arch: ${c.data.architecture}\`.` },
    );
  return c.data;
}

async function fromLayout(
  dir: string,
  ref: string | undefined,
  arch: string,
  expected?: string,
): Promise<FetchedImage> {
  const what = `the OCI layout ${dir}`;
  const { bytes, digest } = await layoutManifest(dir, ref, arch);
  if (expected && digest !== expected)
    throw new UserError("BAD_BASE", `${what} changed while the build was starting.`, {
      hint: "Build again.",
    });
  const manifest = parseManifest(bytes, what);
  const config = parseConfig(await blob(dir, manifest.config.digest), what, arch);
  const layers: string[] = [];
  for (const l of manifest.layers) {
    const file = await regularFile(blobPath(dir, l.digest));
    if (`sha256:${await sha256File(file)}` !== l.digest)
      throw new UserError(
        "CHECKSUM_MISMATCH",
        `${what}: layer ${l.digest} does not match its digest.`,
        { hint: "The layout is damaged; copy the image again." },
      );
    layers.push(file);
  }
  return { config, layers };
}

async function fromRegistry(
  source: string,
  digest: string,
  o: { arch: string; work: string; insecure?: string[]; signal?: AbortSignal },
): Promise<FetchedImage> {
  const ref = parseRegistryRef(source);
  const client = new RegistryClient(ref.registry, { insecure: o.insecure, signal: o.signal });
  const got = await client.getManifest(ref.repository, digest);
  checkDigest(got.bytes, digest, source);
  const manifest = parseManifest(got.bytes, source);
  const configBytes = await client.getBlob(ref.repository, manifest.config.digest);
  checkDigest(configBytes, manifest.config.digest, `${source}'s config`);
  const config = parseConfig(configBytes, source, o.arch);
  // Layers download where `plinth pull` keeps its parts (an interrupted build resumes
  // them), then move into the scratch dir under their lock: no prune or other build can
  // take one away before it is unpacked.
  const layers: string[] = [];
  for (const [i, d] of manifest.layers.entries()) {
    const part = await partFile(d.digest);
    await withPart(part, () => client.fetchBlob(ref.repository, d, part));
    const layer = path.join(o.work, `layer-${i}`);
    await movePart(part, layer);
    layers.push(layer);
  }
  return { config, layers };
}

const DockerManifest = z.array(z.object({ Config: z.string(), Layers: z.array(z.string()) }));
const DiffIds = z.object({ rootfs: z.object({ diff_ids: z.array(z.string()) }).optional() });

/**
 * `docker save`'s format: manifest.json names the config and the layer tars, in order;
 * each layer is checked against the config's `rootfs.diff_ids`.
 */
async function fromDockerArchive(dir: string, file: string): Promise<FetchedImage> {
  const what = `the docker-archive ${file}`;
  const list = parseJson(
    await readFile(path.join(dir, "manifest.json")),
    DockerManifest,
    `${what}'s manifest.json`,
  );
  if (list.length !== 1)
    throw new UserError("BAD_BASE", `${file} holds ${list.length} images; save exactly one.`);
  const inside = async (p: string) => {
    const abs = path.resolve(dir, p);
    if (!abs.startsWith(dir + path.sep))
      throw new UserError("BAD_BASE", `${file}: manifest.json names ${p}, outside the archive.`);
    return regularFile(abs);
  };
  const configBytes = await readFile(await inside(list[0]!.Config));
  const config = parseConfig(configBytes, what);
  const diffIds = parseJson(configBytes, DiffIds, `${what}'s config`).rootfs?.diff_ids ?? [];
  const layers = await Promise.all(list[0]!.Layers.map(inside));
  if (diffIds.length !== layers.length)
    throw new UserError(
      "BAD_BASE",
      `${what}: its config lists ${diffIds.length} layers, its manifest ${layers.length}.`,
    );
  for (const [i, l] of layers.entries())
    if (`sha256:${await sha256File(l)}` !== diffIds[i])
      throw new UserError(
        "CHECKSUM_MISMATCH",
        `${what}: layer ${list[0]!.Layers[i]} does not match ${diffIds[i]}.`,
      );
  return { config, layers };
}
