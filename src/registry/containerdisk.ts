import { createHash } from "node:crypto";
import { createWriteStream, existsSync } from "node:fs";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { pack as tarPack } from "tar-stream";
import { UserError } from "../errors.js";
import { stage } from "../events.js";
import type { ImageMetadata } from "../image/metadata.js";
import { cacheDir } from "../paths.js";
import { markUsed } from "../store/cache.js";
import { inside } from "../util/safe-path.js";
import { addBuffer, addFile } from "../util/tar.js";
import { MEDIA } from "./client.js";
import { sha256Of } from "./manifest.js";
import { startPush, uploadAll, type Blob, type PushOptions, type PushResult } from "./push.js";

/** KubeVirt runs QEMU as uid/gid 107 and reads a containerDisk's disk from /disk/. */
const QEMU_ID = 107;
const LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";
const CONFIG = "application/vnd.oci.image.config.v1+json";

/**
 * Push the image's qcow2 as a KubeVirt containerDisk: an ordinary OCI image whose one
 * layer holds `/disk/disk.qcow2`, owned by 107:107, which a VirtualMachine's
 * `containerDisk.image` boots. The layer is made in-process with fixed headers (mtime
 * the image's epoch), so pushing again finds the same digests.
 */
export async function pushContainerDisk(
  imageDir: string,
  target: string,
  o: PushOptions = {},
): Promise<PushResult> {
  const { emit, ref, meta } = await startPush(imageDir, target, o);
  const qcow2 = meta.artifacts.find((a) => a.kind === "qcow2");
  if (!qcow2)
    throw new UserError(
      "NO_QCOW2",
      `${meta.name} ${meta.version} has no qcow2 output, which a containerDisk carries.`,
      {
        hint: "Add `qcow2` to the spec's `outputs:` and build again.",
      },
    );
  const layer = await stage(emit, "layer", "Packing the containerDisk layer", () =>
    diskLayer(inside(imageDir, qcow2.name), qcow2.sha256, meta, o.signal),
  );
  const config = Buffer.from(
    JSON.stringify({
      created: meta.created,
      architecture: meta.arch,
      os: "linux",
      config: {
        Labels: {
          "org.opencontainers.image.version": meta.version,
          "dev.plinth.build-hash": meta.buildHash,
        },
      },
      rootfs: { type: "layers", diff_ids: [layer.diffId] },
      history: [
        {
          created: meta.created,
          created_by: `plinth push --as containerdisk (${meta.name} ${meta.version})`,
        },
      ],
    }),
  );
  const configFile = path.join(
    path.dirname(layer.file),
    `${qcow2.sha256}.containerdisk-config.json`,
  );
  await writeFile(configFile, config);
  const configBlob: Blob = {
    file: configFile,
    descriptor: { mediaType: CONFIG, digest: sha256Of(config), size: config.length },
  };
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.manifest,
      config: configBlob.descriptor,
      layers: [layer.blob.descriptor],
      annotations: {
        "org.opencontainers.image.version": meta.version,
        "org.opencontainers.image.created": meta.created,
      },
    }),
  );
  return uploadAll(imageDir, ref, [layer.blob, configBlob], manifest, MEDIA.manifest, {
    ...o,
    emit,
  });
}

/** The gzip'd tar layer, cached by the qcow2's sha256: `disk/` and `disk/disk.qcow2`. */
async function diskLayer(
  qcow2: string,
  sha: string,
  meta: ImageMetadata,
  signal?: AbortSignal,
): Promise<{ file: string; diffId: string; blob: Blob }> {
  const dir = path.join(cacheDir(), "blobs");
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${sha}.containerdisk.tar.gz`);
  const info = `${file}.json`;
  if (!existsSync(file) || !existsSync(info)) {
    const tmp = `${file}.${process.pid}.tmp`;
    const tarHash = createHash("sha256");
    const gzHash = createHash("sha256");
    const tap = (h: ReturnType<typeof createHash>) =>
      new Transform({ transform: (c: Buffer, _e, cb) => cb(null, h.update(c) && c) });
    const mtime = new Date(Date.parse(meta.created));
    const common = { uid: QEMU_ID, gid: QEMU_ID, uname: "", gname: "", mtime };
    const pack = tarPack();
    const written = pipeline(
      pack,
      tap(tarHash),
      createGzip({ level: 6 }),
      tap(gzHash),
      createWriteStream(tmp),
    );
    written.catch(() => undefined);
    try {
      await addBuffer(
        pack,
        { ...common, name: "disk/", type: "directory", mode: 0o555 },
        Buffer.alloc(0),
      );
      await addFile(
        pack,
        {
          ...common,
          name: "disk/disk.qcow2",
          type: "file",
          mode: 0o440,
          size: (await stat(qcow2)).size,
        },
        qcow2,
        signal,
      );
      pack.finalize();
      await written;
      await writeFile(
        info,
        JSON.stringify({
          diffId: `sha256:${tarHash.digest("hex")}`,
          digest: `sha256:${gzHash.digest("hex")}`,
        }),
      );
      await rename(tmp, file);
    } catch (error) {
      pack.destroy();
      await written.catch(() => undefined);
      throw error;
    } finally {
      await rm(tmp, { force: true });
    }
  }
  await markUsed(file);
  const { diffId, digest } = JSON.parse(await readFile(info, "utf8")) as {
    diffId: string;
    digest: string;
  };
  const { size } = await stat(file);
  return { file, diffId, blob: { file, descriptor: { mediaType: LAYER, digest, size } } };
}
