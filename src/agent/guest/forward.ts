import type { Readable } from "node:stream";
import type { CreditSender } from "../protocol/credit.js";

/**
 * Send what `source` produces through `sender`, pausing the source while the host has
 * granted no credit. A paused child's pipe fills up and the child blocks in write(2):
 * that is how a runaway process is held without the agent buffering its output.
 * Returns the number of bytes read from the source so far.
 */
export function forward(source: Readable, sender: CreditSender): { bytes: number } {
  const counter = { bytes: 0 };
  source.on("data", (chunk: Buffer) => {
    counter.bytes += chunk.length;
    if (!sender.write(chunk)) {
      source.pause();
      sender.onDrain(() => source.resume());
    }
  });
  return counter;
}
