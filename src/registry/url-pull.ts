import { fetch } from "undici";
import { UserError } from "../errors.js";
import { noEvents, stage } from "../events.js";
import { inParallel } from "../util/parallel.js";
import { httpOpener, resumableDownload } from "../util/download.js";
import { dispatcher } from "./transport.js";
import { landImage, parseMetadata, slotFor } from "./land.js";
import { movePart, partFile, withPart } from "./parts.js";
import { type PullOptions, type PullResult } from "./pull.js";
import { transferProgress } from "./progress.js";

export function isUrl(ref: string): boolean {
  return /^https?:\/\//.test(ref);
}

/**
 * An image published as plain files (GitHub Releases, S3, any web server): metadata.json
 * at `url`, each artifact beside it. Every artifact is resumed when a download was cut and
 * verified against the sha256 metadata.json gives before the image lands.
 */
export async function pullUrl(url: string, o: PullOptions = {}): Promise<PullResult> {
  const emit = o.onEvent ?? noEvents;
  const res = await fetch(url, { signal: o.signal, dispatcher: dispatcher() }).catch(
    (error: unknown) => {
      throw new UserError(
        "DOWNLOAD_FAILED",
        `Cannot fetch ${url} (${(error as { cause?: { code?: string } }).cause?.code ?? String(error)}).`,
        {
          hint: "Check the URL and the network.",
        },
      );
    },
  );
  if (!res.ok)
    throw new UserError("DOWNLOAD_FAILED", `GET ${url} answered ${res.status} ${res.statusText}.`, {
      hint: "Point at an image's metadata.json (the file plinth writes beside the artifacts).",
    });
  const metaBytes = Buffer.from(await res.arrayBuffer());
  const meta = parseMetadata(metaBytes, url);
  const existing = slotFor(meta);
  if (existing.present) return { imageDir: existing.dir, pulled: false, resumedBytes: 0 };

  const parts = new Map<string, string>();
  for (const a of meta.artifacts) parts.set(a.sha256, await partFile(a.sha256));
  const part = (sha: string) => parts.get(sha)!;
  let resumedBytes = 0;
  await stage(emit, "download", `Downloading ${meta.name} ${meta.version}`, async () => {
    const progress = transferProgress(
      emit,
      "download",
      "downloading",
      meta.artifacts.reduce((n, a) => n + a.size, 0),
    );
    await inParallel(meta.artifacts, 3, async (a) => {
      const from = new URL(a.name, url).toString();
      const r = await withPart(part(a.sha256), () =>
        resumableDownload(httpOpener(from, dispatcher()), {
          what: from,
          part: part(a.sha256),
          sha256: a.sha256,
          size: a.size,
          signal: o.signal,
          onBytes: progress.item(a.name),
        }),
      );
      resumedBytes += r.resumedFrom;
    });
    progress.end();
  });
  const imageDir = await stage(emit, "land", "Verifying and storing", () =>
    landImage(metaBytes, meta, (a, dest) => movePart(part(a.sha256), dest), { source: url }),
  );
  return { imageDir, pulled: true, resumedBytes };
}
