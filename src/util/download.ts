import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ChecksumError, PlinthError } from "../errors.js";

/** Download `url` to `dest`, verifying its sha256 before the file appears under its name. */
export async function download(
  url: string,
  dest: string,
  expected: string,
  signal?: AbortSignal,
): Promise<void> {
  const res = await fetch(url, { signal });
  if (!res.ok || !res.body) {
    throw new PlinthError(
      "DOWNLOAD_FAILED",
      `GET ${url} answered ${res.status} ${res.statusText}.`,
    );
  }
  const tmp = `${dest}.${process.pid}.part`;
  const hash = createHash("sha256");
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  try {
    await pipeline(
      Readable.fromWeb(res.body as import("node:stream/web").ReadableStream),
      tap,
      createWriteStream(tmp),
      { signal },
    );
    const actual = hash.digest("hex");
    if (actual !== expected) throw new ChecksumError(url, expected, actual);
    await rename(tmp, dest);
  } finally {
    await rm(tmp, { force: true });
  }
}
