import type { Writable } from "node:stream";
import { Channel, DATA_CHUNK_SIZE, FrameType } from "./constants.js";
import { encodeCredit, encodeFrame, encodeJson } from "./frame.js";
import type { ErrorPayload } from "./messages.js";

const MAX_MESSAGE = 2000;

/**
 * Writes whole frames to a byte stream. Memory is bounded by the credit windows, not by
 * the stream's own backpressure, so frames are written at once; a frame is one buffer,
 * so frames never interleave. Writes after the stream closed are dropped: the session
 * is over and nobody is listening.
 */
export class FrameWriter {
  constructor(private readonly out: Writable) {}

  get closed(): boolean {
    return this.out.destroyed || this.out.writableEnded;
  }

  raw(bytes: Buffer, done?: () => void): void {
    if (this.closed) {
      done?.();
      return;
    }
    this.out.write(bytes, done ? () => done() : undefined);
  }

  /** Throws RangeError when the JSON exceeds the frame limit. */
  json(type: number, id: number, value: unknown, done?: () => void): void {
    this.raw(encodeJson(type, id, value), done);
  }

  /**
   * An ERROR frame that always fits: messages may quote what the peer sent (a path, an
   * op name), so they are cut, and extra fields dropped if it is still too large.
   */
  error(id: number, payload: ErrorPayload): void {
    const message =
      payload.message.length > MAX_MESSAGE
        ? `${payload.message.slice(0, MAX_MESSAGE)}…`
        : payload.message;
    try {
      this.json(FrameType.ERROR, id, { ...payload, message });
    } catch {
      this.json(FrameType.ERROR, id, { code: payload.code, message, nonce: payload.nonce });
    }
  }

  /** DATA frames for `bytes`, split so none exceeds the data chunk size. */
  data(id: number, channel: number, bytes: Buffer): void {
    for (let at = 0; at < bytes.length; at += DATA_CHUNK_SIZE) {
      const end = Math.min(bytes.length, at + DATA_CHUNK_SIZE);
      this.raw(encodeFrame(FrameType.DATA, id, bytes.subarray(at, end), channel));
    }
  }

  end(id: number, channel: number): void {
    this.raw(encodeFrame(FrameType.END, id, undefined, channel));
  }

  credit(id: number, channel: number, bytes: number): void {
    this.raw(encodeCredit(id, channel, bytes));
  }

  cancel(id: number, signal?: string): void {
    this.raw(
      signal
        ? encodeJson(FrameType.CANCEL, id, { signal })
        : encodeFrame(FrameType.CANCEL, id, undefined, Channel.NONE),
    );
  }
}
