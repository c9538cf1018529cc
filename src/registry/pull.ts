import { UserError } from "../errors.js";
import { noEvents, stage, type EventSink } from "../events.js";
import { run } from "../host/exec.js";
import { requireTools } from "../host/tools.js";
import type { Artifact } from "../image/metadata.js";
import { inParallel } from "../util/parallel.js";
import { TITLE, plinthManifest } from "./artifact.js";
import { checkDigest, hostArch, isIndex, platformEntry, sha256Of } from "./manifest.js";
import { RegistryClient, type Descriptor } from "./client.js";
import { landImage, parseMetadata, slotFor } from "./land.js";
import { dropPart, movePart, partFile, withPart } from "./parts.js";
import { transferProgress } from "./progress.js";
import { formatRef, parseRegistryRef } from "./reference.js";

export interface PullOptions {
  insecure?: string[];
  onEvent?: EventSink;
  signal?: AbortSignal;
}

export interface PullResult {
  imageDir: string;
  /** False when the store had this exact image already. */
  pulled: boolean;
  digest?: string;
  /** Bytes found from an interrupted earlier pull and not downloaded again. */
  resumedBytes: number;
}

/**
 * Pull a plinth image from a registry into the store. Blobs go to the download cache
 * (resumed when an earlier pull was interrupted) and are verified by digest; artifacts
 * are verified against metadata.json before the image becomes visible.
 */
export async function pullImage(source: string, o: PullOptions = {}): Promise<PullResult> {
  const emit = o.onEvent ?? noEvents;
  const ref = parseRegistryRef(source);
  const client = new RegistryClient(ref.registry, { insecure: o.insecure, signal: o.signal });
  const name = formatRef(ref);
  const { manifest, digest } = await stage(emit, "resolve", `Resolving ${name}`, async () => {
    let got = await client.getManifest(ref.repository, ref.digest ?? ref.tag!);
    if (ref.digest) checkDigest(got.bytes, ref.digest, name);
    let digest = sha256Of(got.bytes);
    // An index (several platforms under one tag) points at the manifest for this host's arch.
    if (isIndex(got.mediaType)) {
      const entry = platformEntry(got.bytes, hostArch(), name, true);
      got = await client.getManifest(ref.repository, entry.digest);
      checkDigest(got.bytes, entry.digest, name);
      digest = entry.digest;
    }
    return { manifest: plinthManifest(got.bytes, name), digest };
  });
  const metaBytes = await client.getBlob(ref.repository, manifest.config.digest);
  if (sha256Of(metaBytes) !== manifest.config.digest)
    throw new UserError(
      "CHECKSUM_MISMATCH",
      `${name}: its metadata.json does not match digest ${manifest.config.digest}.`,
    );
  const meta = parseMetadata(metaBytes, `${name}'s metadata.json`);
  const existing = slotFor(meta);
  if (existing.present) return { imageDir: existing.dir, pulled: false, digest, resumedBytes: 0 };

  const layers = new Map<string, Descriptor>();
  for (const l of manifest.layers) if (l.annotations?.[TITLE]) layers.set(l.annotations[TITLE], l);
  const missing = meta.artifacts.filter((a) => !layers.has(a.name)).map((a) => a.name);
  if (missing.length)
    throw new UserError("BAD_IMAGE", `${name} lacks layers for ${missing.join(", ")}.`, {
      hint: "Push the image again with `plinth push`.",
    });
  if (manifest.layers.some((l) => l.mediaType.endsWith("+zstd"))) requireTools(["zstd"]);
  const parts = new Map<string, string>();
  for (const d of layers.values()) parts.set(d.digest, await partFile(d.digest));
  const blobFile = (d: Descriptor) => parts.get(d.digest)!;

  let resumedBytes = 0;
  await stage(emit, "download", `Pulling ${name}`, async () => {
    const wanted = meta.artifacts.map((a) => layers.get(a.name)!);
    const progress = transferProgress(
      emit,
      "download",
      "downloading",
      wanted.reduce((n, d) => n + d.size, 0),
    );
    await inParallel(wanted, 3, async (d) => {
      const part = blobFile(d);
      const r = await withPart(part, () =>
        client.fetchBlob(ref.repository, d, part, progress.item(d.digest)),
      );
      resumedBytes += r.resumedFrom;
    });
    progress.end();
  });
  const imageDir = await stage(emit, "land", "Verifying and storing", () =>
    landImage(
      metaBytes,
      meta,
      (a: Artifact, dest: string) =>
        unpackLayer(layers.get(a.name)!, blobFile(layers.get(a.name)!), dest, o.signal),
      {
        source: formatRef({ ...ref, digest: undefined }),
        digest,
        ...(ref.digest && ref.digest !== digest ? { pinned: ref.digest } : {}),
      },
    ),
  );
  for (const d of layers.values()) await dropPart(blobFile(d));
  return { imageDir, pulled: true, digest, resumedBytes };
}

async function unpackLayer(
  d: Descriptor,
  blob: string,
  dest: string,
  signal?: AbortSignal,
): Promise<void> {
  if (d.mediaType.endsWith("+zstd")) {
    // zstd writes runs of zeros as holes: a sparse rootfs stays sparse.
    await withPart(blob, () =>
      run(["zstd", "-d", "-q", "--no-progress", "-f", "-o", dest, blob], { stage: "land", signal }),
    );
    return;
  }
  await movePart(blob, dest);
}
