import { read, readSync } from "node:fs";
import { Readable } from "node:stream";
import { HEADER_SIZE, MAGIC_0, MAGIC_1, MAX_FRAME_SIZE } from "../protocol/constants.js";

/**
 * Follows frame boundaries in a byte stream without decoding it: tells whether the bytes
 * seen so far end in the middle of a frame. Bytes that do not look like frames (padding,
 * garbage) count as a boundary; the real decoder resynchronises on them.
 */
export class FrameTracker {
  private header = Buffer.alloc(HEADER_SIZE);
  private headerBytes = 0;
  private payloadLeft = 0;

  get midFrame(): boolean {
    return this.headerBytes > 0 || this.payloadLeft > 0;
  }

  feed(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.payloadLeft > 0) {
        const take = Math.min(this.payloadLeft, chunk.length - i);
        this.payloadLeft -= take;
        i += take;
        continue;
      }
      const byte = chunk[i++]!;
      const expected =
        this.headerBytes === 0 ? MAGIC_0 : this.headerBytes === 1 ? MAGIC_1 : undefined;
      if (expected !== undefined && byte !== expected) {
        this.headerBytes = 0; // not a frame: stop tracking until a read starts afresh
        return;
      }
      this.header[this.headerBytes++] = byte;
      if (this.headerBytes === HEADER_SIZE) {
        this.headerBytes = 0;
        const len = this.header.readUInt32BE(8);
        if (len > MAX_FRAME_SIZE) return;
        this.payloadLeft = len;
      }
    }
  }
}

/**
 * The agent's reading side of a virtio-serial port.
 *
 * A read of such a port returns at most one 4 KiB guest buffer, and through fs streams
 * every read is a libuv thread-pool round trip (~0.8 ms under TCG): host→guest bytes were
 * capped at ~5 MiB/s. Here one asynchronous read waits for data; then, while the bytes so
 * far end inside a frame, the rest of that frame is read synchronously — it is certain to
 * come, because the host writes whole frames (or the host disconnects and the read
 * returns EOF). At a frame boundary it goes back to waiting asynchronously, so the event
 * loop never blocks on a quiet port.
 */
export class PortReadable extends Readable {
  private readonly buf = Buffer.allocUnsafe(2 * (HEADER_SIZE + MAX_FRAME_SIZE));
  private readonly frames = new FrameTracker();
  private reading = false;

  constructor(private readonly fd: number) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _read(): void {
    if (this.reading || this.destroyed) return;
    this.reading = true;
    read(this.fd, this.buf, 0, 64 * 1024, null, (error, n) => {
      this.reading = false;
      if (error) return void this.destroy(error);
      if (n === 0) return void this.push(null);
      let fill = n;
      this.frames.feed(this.buf.subarray(0, n));
      let eof = false;
      try {
        while (this.frames.midFrame && fill < this.buf.length) {
          const m = readSync(
            this.fd,
            this.buf,
            fill,
            Math.min(64 * 1024, this.buf.length - fill),
            null,
          );
          if (m === 0) {
            eof = true;
            break;
          }
          this.frames.feed(this.buf.subarray(fill, fill + m));
          fill += m;
        }
      } catch (e) {
        this.push(Buffer.from(this.buf.subarray(0, fill)));
        return void this.destroy(e as Error);
      }
      this.push(Buffer.from(this.buf.subarray(0, fill)));
      if (eof) this.push(null);
    });
  }
}
