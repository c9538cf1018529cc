import { HEADER_SIZE, MAGIC_0, MAX_FRAME_SIZE } from "./constants.js";
import { decodeHeader, type Frame, type FrameHeader } from "./frame.js";

export interface DecoderEvents {
  frame(frame: Frame): void;
  /** A frame with a valid header whose payload exceeds the limit; the payload is skipped. */
  oversize(header: FrameHeader): void;
  /** Bytes that belonged to no frame, reported once a valid header follows them. */
  garbage(bytes: number): void;
}

/**
 * Turns a byte stream into frames, whatever the chunking. It never throws on input:
 * bytes that do not start a frame whose magic and header CRC check out are skipped one
 * at a time until one does (resync). Zero bytes between frames are padding and skipped
 * silently. A valid header that announces an oversized payload is reported and its
 * payload discarded without buffering it.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Header of the frame whose payload is still arriving. */
  private header: FrameHeader | undefined;
  /** Payload bytes of an oversized frame still to discard. */
  private skip = 0;
  private garbageRun = 0;

  constructor(
    private readonly events: DecoderEvents,
    private readonly maxFrameSize = MAX_FRAME_SIZE,
  ) {}

  /** Bytes held while waiting for the rest of a frame. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    this.drain();
  }

  private drain(): void {
    for (;;) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, this.buffered);
        this.discard(n);
        this.skip -= n;
        if (this.skip > 0) return;
        continue;
      }
      if (this.header) {
        const header = this.header;
        if (this.buffered < header.length) return;
        const payload = this.take(header.length);
        this.header = undefined;
        this.events.frame({ type: header.type, channel: header.channel, id: header.id, payload });
        continue;
      }
      if (!this.seekMagic() || this.buffered < HEADER_SIZE) return;
      const header = decodeHeader(this.peek(HEADER_SIZE));
      if (!header) {
        this.garbageRun++;
        this.discard(1);
        continue;
      }
      this.discard(HEADER_SIZE);
      if (this.garbageRun > 0) {
        const bytes = this.garbageRun;
        this.garbageRun = 0;
        this.events.garbage(bytes);
      }
      if (header.length > this.maxFrameSize) {
        this.skip = header.length;
        this.events.oversize(header);
      } else {
        this.header = header;
      }
    }
  }

  /** Drop bytes up to the next possible frame start; false when none is buffered. */
  private seekMagic(): boolean {
    while (this.chunks.length > 0) {
      const chunk = this.chunks[0]!;
      let i = 0;
      while (i < chunk.length && chunk[i] !== MAGIC_0) {
        if (chunk[i] !== 0) this.garbageRun++;
        i++;
      }
      if (i < chunk.length) {
        if (i > 0) this.discard(i);
        return true;
      }
      this.chunks.shift();
      this.buffered -= chunk.length;
    }
    return false;
  }

  private peek(n: number): Buffer {
    let first = this.chunks[0]!;
    if (first.length < n) {
      // Merge just enough chunks for the header; payloads are taken without this.
      let count = 0;
      let bytes = 0;
      while (bytes < n) bytes += this.chunks[count++]!.length;
      first = Buffer.concat(this.chunks.slice(0, count), bytes);
      this.chunks.splice(0, count, first);
    }
    return first.subarray(0, n);
  }

  private take(n: number): Buffer {
    const first = this.chunks[0];
    if (n === 0) return Buffer.alloc(0);
    if (first && first.length >= n) {
      const out = first.subarray(0, n);
      this.discard(n);
      return out;
    }
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      const chunk = this.chunks[0]!;
      if (chunk.length <= need) {
        parts.push(chunk);
        this.chunks.shift();
        need -= chunk.length;
      } else {
        parts.push(chunk.subarray(0, need));
        this.chunks[0] = chunk.subarray(need);
        need = 0;
      }
    }
    this.buffered -= n;
    return Buffer.concat(parts, n);
  }

  private discard(n: number): void {
    this.buffered -= n;
    while (n > 0) {
      const chunk = this.chunks[0]!;
      if (chunk.length <= n) {
        this.chunks.shift();
        n -= chunk.length;
      } else {
        this.chunks[0] = chunk.subarray(n);
        n = 0;
      }
    }
  }
}
