import { createWriteStream } from "node:fs";
import { rename, rm, stat } from "node:fs/promises";
import { Readable, Transform } from "node:stream";
import type { ReadableStream } from "node:stream/web";
import { pipeline } from "node:stream/promises";
import { CancelledError, ChecksumError, PlinthError } from "../errors.js";
import { sha256File } from "./hash.js";
import { fetch, type Dispatcher, type Response } from "undici";

/** Opens the source from `offset` (a `Range` request when it is > 0). */
export type Opener = (offset: number, signal?: AbortSignal) => Promise<Response>;

export interface ResumableOptions {
  /** What the user knows this as (a URL, a blob digest), for messages. */
  what: string;
  /** The partial file: kept when interrupted, so the next attempt or run resumes from it. */
  part: string;
  sha256: string;
  size?: number;
  signal?: AbortSignal;
  /** Bytes on disk so far (resumed bytes count at once). */
  onBytes?: (done: number) => void;
  /** Network failures tried again (from where they stopped) before giving up. */
  retries?: number;
}

/**
 * Download into `part`, resuming what an earlier attempt left there (the bytes it found
 * are returned), and verify the sha256 of the whole. A mismatch removes the partial file and throws ChecksumError, so
 * a corrupt source never lands; a network failure keeps it for the next try.
 */
export async function resumableDownload(
  open: Opener,
  o: ResumableOptions,
): Promise<{ resumedFrom: number }> {
  const resumedFrom = (await stat(o.part).catch(() => undefined))?.size ?? 0;
  for (let attempt = 0; ; attempt++) {
    try {
      await attemptDownload(open, o);
      break;
    } catch (error) {
      const network = !(error instanceof PlinthError) && !o.signal?.aborted;
      if (!network) throw error;
      if (attempt >= (o.retries ?? 3))
        throw new PlinthError(
          "DOWNLOAD_FAILED",
          `${o.what}: ${(error as Error).message} (after ${attempt + 1} tries; run again to resume).`,
          { cause: error },
        );
    }
  }
  const actual = await sha256File(o.part);
  if (actual !== o.sha256) {
    await rm(o.part, { force: true });
    throw new ChecksumError(o.what, o.sha256, actual);
  }
  return { resumedFrom };
}

async function attemptDownload(open: Opener, o: ResumableOptions): Promise<void> {
  let offset = (await stat(o.part).catch(() => undefined))?.size ?? 0;
  if (o.size !== undefined && offset > o.size) offset = 0;
  if (o.size !== undefined && offset === o.size) return o.onBytes?.(offset);
  const res = await open(offset, o.signal);
  if (res.status === 416 && offset > 0) return; // the part already holds everything
  if (!res.ok || !res.body)
    throw new PlinthError(
      "DOWNLOAD_FAILED",
      `GET ${o.what} answered ${res.status} ${res.statusText}.`,
    );
  // A server that ignores Range sends the whole file again: start over.
  const append = offset > 0 && res.status === 206;
  let done = append ? offset : 0;
  o.onBytes?.(done);
  const count = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      done += chunk.length;
      o.onBytes?.(done);
      cb(null, chunk);
    },
  });
  await pipeline(
    Readable.fromWeb(res.body as ReadableStream),
    count,
    createWriteStream(o.part, { flags: append ? "a" : "w" }),
    { signal: o.signal },
  ).catch((e: unknown) => {
    throw o.signal?.aborted ? new CancelledError(`the download of ${o.what}`) : e;
  });
  if (o.size !== undefined && done !== o.size)
    throw new Error(`${o.what}: got ${done} of ${o.size} bytes`); // a network failure: resume
}

/** Open `url` with plain fetch, from `offset`. */
export function httpOpener(url: string, dispatcher?: Dispatcher): Opener {
  return (offset, signal) =>
    fetch(url, { signal, dispatcher, headers: offset > 0 ? { Range: `bytes=${offset}-` } : {} });
}

/** Download `url` to `dest`, verifying its sha256 before the file appears under its name. */
export async function download(
  url: string,
  dest: string,
  expected: string,
  signal?: AbortSignal,
): Promise<void> {
  const part = `${dest}.${process.pid}.part`;
  try {
    await resumableDownload(httpOpener(url), { what: url, part, sha256: expected, signal });
    await rename(part, dest);
  } finally {
    await rm(part, { force: true });
  }
}
