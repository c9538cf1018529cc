import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import type { Pack } from "tar-stream";
import { PlinthError } from "../errors.js";

/** Members of a tar-stream archive, streamed with back-pressure (OVAs, container layers). */
export type EntryHeader = Parameters<Pack["entry"]>[0];

// A member's errors arrive through its entry callback; a member stream destroyed with the
// archive also emits one as an event, which must not go unhandled (it would end plinth).
const quiet = (sink: ReturnType<Pack["entry"]>) => sink.on("error", () => undefined);

export function addBuffer(pack: Pack, header: EntryHeader, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) =>
    quiet(pack.entry(header, data, (err) => (err ? reject(err) : resolve()))),
  );
}

/** Stream a file into the archive as one member, with back-pressure; its sha256. */
export async function addFile(
  pack: Pack,
  header: EntryHeader & { size: number },
  file: string,
  signal?: AbortSignal,
): Promise<string> {
  const hash = createHash("sha256");
  let bytes = 0;
  let sink!: ReturnType<Pack["entry"]>;
  const done = new Promise<void>((resolve, reject) => {
    sink = quiet(pack.entry(header, (err) => (err ? reject(err) : resolve())));
  });
  done.catch(() => undefined);
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20, signal })) {
    const data = chunk as Buffer;
    hash.update(data);
    bytes += data.length;
    // Wait for room; `done` rejects instead if the archive fails meanwhile.
    if (!sink.write(data))
      await Promise.race([
        new Promise<void>((resolve) => sink.once("drain", () => resolve())),
        done,
      ]);
  }
  // A file that changed size under us would make a corrupt member: refuse it.
  if (bytes !== header.size)
    throw new PlinthError(
      "FILE_CHANGED",
      `${file} changed while it was archived (${bytes} bytes read).`,
    );
  sink.end(null); // no more data (streamx's types want an argument)
  await done;
  return hash.digest("hex");
}
