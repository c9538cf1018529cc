import { existsSync } from "node:fs";
import { mkdtemp, readFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { UserError } from "../../errors.js";
import { run } from "../../host/exec.js";
import { cacheDir } from "../../paths.js";
import { ManifestSchema } from "../../registry/artifact.js";
import { RegistryClient } from "../../registry/client.js";
import { checkDigest } from "../../registry/manifest.js";
import { dropPart, partFile, withPart } from "../../registry/parts.js";
import { parseRegistryRef } from "../../registry/reference.js";
import { buildDockerfile } from "./dockerfile.js";
import { blob, blobPath, hashFile, layoutManifest, type ContainerSource } from "./source.js";

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
  o: { arch: string; work: string; insecure?: string[]; signal?: AbortSignal },
): Promise<FetchedImage> {
  if (s.kind === "image") return fromRegistry(s.ref, digest, o);
  if (s.kind === "oci-layout") return fromLayout(s.dir, s.ref, o.arch);
  if (s.kind === "dockerfile") {
    const layout = await buildDockerfile(s, path.join(o.work, "layout"), o);
    return fromLayout(layout, undefined, o.arch);
  }
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

function parseManifest(bytes: Buffer, what: string) {
  const m = ManifestSchema.safeParse(JSON.parse(bytes.toString("utf8")));
  if (!m.success) throw new UserError("BAD_BASE", `${what}: not an OCI image manifest.`);
  return m.data;
}

function parseConfig(bytes: Buffer, what: string, arch?: string): ImageConfig {
  const c = ImageConfigSchema.safeParse(JSON.parse(bytes.toString("utf8")));
  if (!c.success) throw new UserError("BAD_BASE", `${what}: its image config is not valid.`);
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
): Promise<FetchedImage> {
  const what = `the OCI layout ${dir}`;
  const { bytes } = await layoutManifest(dir, ref, arch);
  const manifest = parseManifest(bytes, what);
  const config = parseConfig(await blob(dir, manifest.config.digest), what, arch);
  const layers: string[] = [];
  for (const l of manifest.layers) {
    const file = blobPath(dir, l.digest);
    if (`sha256:${await hashFile(file).catch(() => "missing")}` !== l.digest)
      throw new UserError(
        "CHECKSUM_MISMATCH",
        `${what}: layer ${l.digest} does not match its digest.`,
        {
          hint: "The layout is damaged; copy the image again.",
        },
      );
    layers.push(file);
  }
  return { config, layers };
}

async function fromRegistry(
  source: string,
  digest: string,
  o: { arch: string; insecure?: string[]; signal?: AbortSignal },
): Promise<FetchedImage> {
  const ref = parseRegistryRef(source);
  const client = new RegistryClient(ref.registry, { insecure: o.insecure, signal: o.signal });
  const got = await client.getManifest(ref.repository, digest);
  checkDigest(got.bytes, digest, source);
  const manifest = parseManifest(got.bytes, source);
  const configBytes = await client.getBlob(ref.repository, manifest.config.digest);
  checkDigest(configBytes, manifest.config.digest, `${source}'s config`);
  const config = parseConfig(configBytes, source, o.arch);
  // Layers go where `plinth pull` keeps its parts: an interrupted build resumes them.
  const layers: string[] = [];
  for (const d of manifest.layers) {
    const part = await partFile(d.digest);
    await withPart(part, () => client.fetchBlob(ref.repository, d, part));
    layers.push(part);
  }
  return { config, layers };
}

/** `docker save`'s format: manifest.json names the config and the layer tars, in order. */
async function fromDockerArchive(dir: string, file: string): Promise<FetchedImage> {
  const list = JSON.parse(await readFile(path.join(dir, "manifest.json"), "utf8")) as {
    Config: string;
    Layers: string[];
  }[];
  if (list.length !== 1)
    throw new UserError("BAD_BASE", `${file} holds ${list.length} images; save exactly one.`);
  const inside = (p: string) => {
    const abs = path.resolve(dir, p);
    if (!abs.startsWith(dir + path.sep))
      throw new UserError("BAD_BASE", `${file}: manifest.json names ${p}, outside the archive.`);
    return abs;
  };
  const config = parseConfig(await readFile(inside(list[0]!.Config)), file);
  return { config, layers: list[0]!.Layers.map(inside) };
}

export async function removeFetched(image: FetchedImage): Promise<void> {
  // Registry layers were downloads: once unpacked into the cached tree they are not needed.
  for (const l of image.layers)
    if (l.startsWith(path.join(cacheDir(), "downloads") + path.sep)) await dropPart(l);
}
