import { existsSync } from "node:fs";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { noEvents, stage, type EventSink } from "../events.js";
import { run } from "../host/exec.js";
import { requireTools } from "../host/tools.js";
import { METADATA, verifyImage, type ImageMetadata } from "../image/metadata.js";
import { cacheDir } from "../paths.js";
import { markUsed } from "../store/cache.js";
import { withStoreLock } from "../store/lock.js";
import { sha256File } from "../util/hash.js";
import { inParallel } from "../util/parallel.js";
import { inside } from "../util/safe-path.js";
import { CONFIG_TYPE, TITLE, compresses, imageManifest, layerType } from "./artifact.js";
import { MEDIA, RegistryClient, type BlobUpload, type Descriptor } from "./client.js";
import { sha256Of } from "./manifest.js";
import { transferProgress } from "./progress.js";
import { formatRef, parseRegistryRef, type RegistryRef } from "./reference.js";

export interface PushOptions {
  insecure?: string[];
  onEvent?: EventSink;
  signal?: AbortSignal;
}

export interface PushResult {
  ref: string;
  digest: string;
  /** What happened to each blob: already there, mounted from another repository, uploaded. */
  blobs: Record<BlobUpload, number>;
  bytesUploaded: number;
}

/** A blob ready to go: its file, descriptor, and how it came to be. */
export interface Blob {
  file: string;
  descriptor: Descriptor;
}

/** Push the image in `imageDir` to `target` as a plinth OCI artifact. */
export async function pushImage(
  imageDir: string,
  target: string,
  o: PushOptions = {},
): Promise<PushResult> {
  const { emit, ref, meta } = await startPush(imageDir, target, o);
  requireTools(meta.artifacts.some(compresses) ? ["zstd"] : []);
  const layers = await stage(emit, "compress", "Compressing artifacts", async () => {
    // Every compression ends (and removes its temp file) before a failure is reported.
    const settled = await Promise.allSettled(
      meta.artifacts.map((a) => layerBlob(imageDir, a, o.signal)),
    );
    const failed = settled.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    return settled.map((r) => (r as PromiseFulfilledResult<Blob>).value);
  });
  const config: Blob = {
    file: path.join(imageDir, METADATA),
    descriptor: {
      mediaType: CONFIG_TYPE,
      digest: `sha256:${await sha256File(path.join(imageDir, METADATA))}`,
      size: (await readFile(path.join(imageDir, METADATA))).length,
    },
  };
  const manifest = imageManifest(
    config.descriptor,
    layers.map((l) => l.descriptor),
    manifestAnnotations(meta),
  );
  return uploadAll(imageDir, ref, [...layers, config], manifest, MEDIA.manifest, { ...o, emit });
}

/**
 * Upload blobs then the manifest, and record the push beside the image. Shared by the
 * plinth artifact and the containerDisk image.
 */
/** What every push starts with: the target parsed, the image verified against its sums. */
export async function startPush(
  imageDir: string,
  target: string,
  o: PushOptions,
): Promise<{ emit: EventSink; ref: RegistryRef; meta: ImageMetadata }> {
  const emit = o.onEvent ?? noEvents;
  const ref = parseRegistryRef(target);
  const meta = await stage(emit, "verify", "Verifying the image", () => verifyImage(imageDir));
  return { emit, ref, meta };
}

export async function uploadAll(
  imageDir: string,
  ref: RegistryRef,
  blobs: Blob[],
  manifest: Buffer,
  mediaType: string,
  o: PushOptions & { emit: EventSink },
): Promise<PushResult> {
  const client = new RegistryClient(ref.registry, { insecure: o.insecure, signal: o.signal });
  const counts: Record<BlobUpload, number> = { exists: 0, mounted: 0, uploaded: 0 };
  let bytesUploaded = 0;
  const mountFrom = (await readPushes(imageDir))
    .filter((p) => p.registry === ref.registry)
    .map((p) => p.repository);
  await stage(o.emit, "upload", `Pushing to ${formatRef(ref)}`, async () => {
    await client.ping(`repository:${ref.repository}:pull,push`);
    const total = blobs.reduce((n, b) => n + b.descriptor.size, 0);
    const progress = transferProgress(o.emit, "upload", "uploading", total);
    await inParallel(blobs, 2, async (b) => {
      const onBytes = progress.item(b.descriptor.digest);
      const how = await client.pushBlob(ref.repository, b.file, b.descriptor, {
        mountFrom: [...new Set(mountFrom)],
        onBytes,
      });
      onBytes(b.descriptor.size);
      counts[how]++;
      if (how === "uploaded") bytesUploaded += b.descriptor.size;
    });
    progress.end();
  });
  const digest = sha256Of(manifest);
  await client.putManifest(ref.repository, ref.tag ?? digest, manifest, mediaType);
  await recordPush(imageDir, { ...ref, digest, pushed: new Date().toISOString() }, o.emit);
  return {
    ref: `${formatRef({ ...ref, digest: undefined })}@${digest}`,
    digest,
    blobs: counts,
    bytesUploaded,
  };
}

function manifestAnnotations(meta: ImageMetadata): Record<string, string> {
  return {
    "org.opencontainers.image.title": meta.name,
    "org.opencontainers.image.version": meta.version,
    "org.opencontainers.image.created": meta.created,
    "dev.plinth.build-hash": meta.buildHash,
    "dev.plinth.arch": meta.arch,
  };
}

/**
 * The layer for one artifact: the file itself, or (when large and not compressed already)
 * its zstd form, cached by the artifact's sha256 so pushing again compresses nothing and
 * finds the same digest.
 */
async function layerBlob(
  dir: string,
  a: ImageMetadata["artifacts"][number],
  signal?: AbortSignal,
): Promise<Blob> {
  const annotations = { [TITLE]: a.name, "dev.plinth.sha256": a.sha256 };
  if (!compresses(a))
    return {
      file: inside(dir, a.name),
      descriptor: {
        mediaType: layerType(a, false),
        digest: `sha256:${a.sha256}`,
        size: a.size,
        annotations,
      },
    };
  const blobs = path.join(cacheDir(), "blobs");
  await mkdir(blobs, { recursive: true });
  const file = path.join(blobs, `${a.sha256}.zst`);
  const sumFile = `${file}.sha256`;
  if (!existsSync(file) || !existsSync(sumFile)) {
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      await run(
        ["zstd", "-q", "-3", "-T0", "--no-progress", "-f", "-o", tmp, inside(dir, a.name)],
        {
          stage: "compress",
          signal,
        },
      );
      const sum = await sha256File(tmp);
      await rename(tmp, file);
      await writeFile(sumFile, `${sum}\n`);
    } finally {
      await rm(tmp, { force: true });
    }
  }
  await markUsed(file);
  const digest = (await readFile(sumFile, "utf8")).trim();
  const { size } = await stat(file);
  return {
    file,
    descriptor: { mediaType: layerType(a, true), digest: `sha256:${digest}`, size, annotations },
  };
}

const PushRecord = z.object({
  registry: z.string(),
  repository: z.string(),
  tag: z.string().optional(),
  digest: z.string(),
  pushed: z.string(),
});
export const PUSHED = "pushed.json";

/** Where this image was pushed (newest last): printed by `plinth images`, used for mounts. */
export async function readPushes(imageDir: string): Promise<z.infer<typeof PushRecord>[]> {
  const text = await readFile(path.join(imageDir, PUSHED), "utf8").catch(() => "[]");
  try {
    const parsed = z.array(PushRecord).safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : [];
  } catch {
    return []; // a damaged record is only a lost list of earlier pushes
  }
}

/**
 * Appended under the store lock (two pushes of one image, or an `rm`, may run at once).
 * The push itself is done by now: a failure here is a warning, not a failed push.
 */
async function recordPush(
  imageDir: string,
  rec: z.infer<typeof PushRecord>,
  emit: EventSink,
): Promise<void> {
  try {
    await withStoreLock(async () => {
      if (!existsSync(path.join(imageDir, METADATA))) return; // removed meanwhile
      const all = [...(await readPushes(imageDir)), rec];
      const file = path.join(imageDir, PUSHED);
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify(all, null, 2) + "\n");
      await rename(tmp, file);
    });
  } catch (e) {
    emit({
      type: "log",
      level: "warn",
      message: `pushed, but not recorded in ${PUSHED}: ${(e as Error).message}`,
    });
  }
}
