import { createReadStream } from "node:fs";
import { Channel, DATA_CHUNK_SIZE } from "../../protocol/constants.js";
import type { Args } from "../args.js";
import { forward } from "../forward.js";
import type { Request } from "../request.js";

/** Stream a file (or a byte range of it) as DATA frames; the reply carries the size sent. */
export async function fileRead(request: Request, args: Args): Promise<{ size: number }> {
  const path = args.path("path");
  const offset = args.optNumber("offset") ?? 0;
  const length = args.optNumber("length");
  if (length === 0) return { size: 0 };
  const source = createReadStream(path, {
    start: offset,
    end: length === undefined ? undefined : offset + length - 1,
    highWaterMark: DATA_CHUNK_SIZE,
  });
  const output = request.output(Channel.DATA);
  const sent = forward(source, output);
  await new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      source.destroy();
      reject(request.signal.reason);
    };
    request.signal.addEventListener("abort", onAbort, { once: true });
    source.once("error", reject);
    source.once("end", () => {
      request.signal.removeEventListener("abort", onAbort);
      resolve();
    });
  });
  await output.drained();
  return { size: sent.bytes };
}
