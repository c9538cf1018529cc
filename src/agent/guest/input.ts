import { CreditReceiver } from "../protocol/credit.js";

/**
 * Bytes the host streams to one channel of a request (stdin, file contents), as an
 * async iterable. A chunk counts as consumed, and earns the host more credit, when the
 * consumer asks for the next one, i.e. after it has written the chunk where it goes.
 */
export class InputStream implements AsyncIterable<Buffer> {
  private queue: Buffer[] = [];
  private ended = false;
  private wake: (() => void) | undefined;
  private readonly receiver: CreditReceiver;

  constructor(grant: (bytes: number) => void) {
    this.receiver = new CreditReceiver(grant);
  }

  /** False when the host sent more than its credit allowed. */
  push(chunk: Buffer): boolean {
    if (this.ended) return true;
    if (!this.receiver.receive(chunk.length)) return false;
    this.queue.push(chunk);
    this.notify();
    return true;
  }

  /** END from the host, or the request is over: the iteration finishes after the queue. */
  end(): void {
    this.ended = true;
    this.notify();
  }

  /** Stop at once, dropping what is queued. */
  abort(): void {
    this.queue = [];
    this.end();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      const chunk = this.queue.shift();
      if (chunk) {
        yield chunk;
        this.receiver.consume(chunk.length);
      } else if (this.ended) {
        return;
      } else {
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
