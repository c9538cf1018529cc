import { Readable } from "node:stream";
import { CreditReceiver } from "../protocol/credit.js";

/**
 * A stream the agent sends (stdout, stderr, file contents) as a Readable. DATA is queued
 * here and handed to the Readable only when it asks (`_read`); that hand-over is what
 * counts as consumed and earns the agent credit. A consumer that stops reading stops the
 * agent within one window, and the agent then pauses the source.
 */
export class IncomingStream extends Readable {
  private queue: Buffer[] = [];
  private wanting = false;
  private ended = false;
  private endPushed = false;
  private readonly receiver: CreditReceiver;

  constructor(
    grant: (bytes: number) => void,
    private readonly onDestroy: (error: Error | null) => void = () => {},
  ) {
    super();
    this.receiver = new CreditReceiver(grant);
  }

  /** DATA from the agent. */
  deliver(chunk: Buffer): void {
    if (this.destroyed || this.ended) return;
    this.receiver.receive(chunk.length);
    this.queue.push(chunk);
    this.flush();
  }

  /** The request ended: end after what is queued. */
  finish(): void {
    this.ended = true;
    this.flush();
  }

  override _read(): void {
    this.wanting = true;
    this.flush();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.queue = [];
    this.onDestroy(error);
    callback(error);
  }

  private flush(): void {
    if (this.destroyed) return;
    while (this.wanting && this.queue.length > 0) {
      const chunk = this.queue.shift()!;
      this.receiver.consume(chunk.length);
      this.wanting = this.push(chunk);
    }
    if (this.ended && this.queue.length === 0 && !this.endPushed) {
      this.endPushed = true;
      this.push(null);
    }
  }
}
