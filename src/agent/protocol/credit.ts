import { DATA_CHUNK_SIZE, INITIAL_WINDOW } from "./constants.js";

/**
 * Sending side of one stream. Bytes go out only while the receiver has granted credit;
 * the rest waits here, and `write` returning false tells the caller to pause its source
 * (a child's stdout, a file read stream) until `onDrain`.
 */
export class CreditSender {
  private credit: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private drainListeners: (() => void)[] = [];
  private closed = false;

  constructor(
    private readonly send: (chunk: Buffer) => void,
    initialCredit = INITIAL_WINDOW,
    private readonly chunkSize = DATA_CHUNK_SIZE,
  ) {
    this.credit = initialCredit;
  }

  /** True when nothing is waiting for credit. */
  get idle(): boolean {
    return this.pendingBytes === 0;
  }

  get available(): number {
    return this.credit;
  }

  /** Queue bytes; false when some of them wait for credit. */
  write(data: Uint8Array): boolean {
    if (this.closed) return true;
    if (data.length > 0) {
      const buf = Buffer.isBuffer(data)
        ? data
        : Buffer.from(data.buffer, data.byteOffset, data.length);
      this.pending.push(buf);
      this.pendingBytes += buf.length;
      this.flush();
    }
    return this.pendingBytes === 0;
  }

  grant(bytes: number): void {
    if (this.closed) return;
    this.credit += bytes;
    this.flush();
  }

  /** Calls `fn` once, when nothing waits for credit (at once if nothing does). */
  onDrain(fn: () => void): void {
    if (this.pendingBytes === 0) fn();
    else this.drainListeners.push(fn);
  }

  drained(): Promise<void> {
    return new Promise((resolve) => this.onDrain(resolve));
  }

  /** Drop whatever waits and release anyone waiting for drain. */
  close(): void {
    this.closed = true;
    this.pending = [];
    this.pendingBytes = 0;
    this.fireDrain();
  }

  private flush(): void {
    while (this.pending.length > 0 && this.credit > 0) {
      const head = this.pending[0]!;
      const n = Math.min(head.length, this.credit, this.chunkSize);
      this.send(head.subarray(0, n));
      this.credit -= n;
      this.pendingBytes -= n;
      if (n === head.length) this.pending.shift();
      else this.pending[0] = head.subarray(n);
    }
    if (this.pendingBytes === 0) this.fireDrain();
  }

  private fireDrain(): void {
    const listeners = this.drainListeners;
    this.drainListeners = [];
    for (const fn of listeners) fn();
  }
}

/**
 * Receiving side of one stream: checks the sender stays within its credit and grants
 * more as bytes are consumed, a quarter window at a time so a stalled consumer stops
 * the sender within one window while a fast one never waits on a round trip.
 */
export class CreditReceiver {
  private received = 0;
  private allowed: number;
  private unacknowledged = 0;

  constructor(
    private readonly grant: (bytes: number) => void,
    private readonly window = INITIAL_WINDOW,
  ) {
    this.allowed = window;
  }

  /** Account arriving bytes; false when the sender went beyond its credit. */
  receive(bytes: number): boolean {
    this.received += bytes;
    return this.received <= this.allowed;
  }

  consume(bytes: number): void {
    this.unacknowledged += bytes;
    if (this.unacknowledged >= this.window / 4) {
      const grant = this.unacknowledged;
      this.unacknowledged = 0;
      this.allowed += grant;
      this.grant(grant);
    }
  }
}
