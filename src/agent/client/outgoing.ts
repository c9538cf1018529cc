import { Writable } from "node:stream";
import type { CreditSender } from "../protocol/credit.js";

/**
 * A stream the host sends (stdin, file contents) as a Writable: a write completes when
 * the agent has credit for it, so piping a Readable into it follows the guest's pace.
 * Ending it sends END. Once the request is over, writes are discarded.
 */
export class OutgoingStream extends Writable {
  constructor(
    private readonly sender: CreditSender,
    private readonly sendEnd: () => void,
  ) {
    super();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    if (this.sender.write(chunk)) callback();
    else this.sender.onDrain(callback);
  }

  override _final(callback: () => void): void {
    this.sender.onDrain(() => {
      this.sendEnd();
      callback();
    });
  }
}
