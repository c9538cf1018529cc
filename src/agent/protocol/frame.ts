import { crc32 } from "./crc32.js";
import { Channel, FrameType, HEADER_SIZE, MAGIC_0, MAGIC_1, MAX_FRAME_SIZE } from "./constants.js";

export interface Frame {
  type: number;
  channel: number;
  id: number;
  payload: Buffer;
}

export interface FrameHeader {
  type: number;
  channel: number;
  id: number;
  length: number;
}

export function encodeHeader(h: FrameHeader): Buffer {
  const header = Buffer.allocUnsafe(HEADER_SIZE);
  header[0] = MAGIC_0;
  header[1] = MAGIC_1;
  header[2] = h.type;
  header[3] = h.channel;
  header.writeUInt32BE(h.id >>> 0, 4);
  header.writeUInt32BE(h.length >>> 0, 8);
  header.writeUInt32BE(crc32(header, 0, 12), 12);
  return header;
}

/**
 * Header and payload in one buffer, so a frame is one write and concurrent writers can
 * never interleave inside it. Refuses payloads the peer would reject anyway.
 */
export function encodeFrame(
  type: number,
  id: number,
  payload: Uint8Array = Buffer.alloc(0),
  channel: number = Channel.NONE,
  maxFrameSize = MAX_FRAME_SIZE,
): Buffer {
  if (payload.length > maxFrameSize) {
    throw new RangeError(`frame payload of ${payload.length} bytes exceeds ${maxFrameSize}`);
  }
  const frame = Buffer.allocUnsafe(HEADER_SIZE + payload.length);
  encodeHeader({ type, channel, id, length: payload.length }).copy(frame, 0);
  frame.set(payload, HEADER_SIZE);
  return frame;
}

export function encodeJson(type: number, id: number, value: unknown): Buffer {
  return encodeFrame(type, id, Buffer.from(JSON.stringify(value ?? {}), "utf8"));
}

export function encodeCredit(id: number, channel: number, bytes: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(bytes >>> 0, 0);
  return encodeFrame(FrameType.CREDIT, id, payload, channel);
}

/** The header at `offset`, or undefined when the magic or the CRC does not match. */
export function decodeHeader(buf: Buffer, offset = 0): FrameHeader | undefined {
  if (buf[offset] !== MAGIC_0 || buf[offset + 1] !== MAGIC_1) return undefined;
  if (crc32(buf, offset, offset + 12) !== buf.readUInt32BE(offset + 12)) return undefined;
  return {
    type: buf[offset + 2]!,
    channel: buf[offset + 3]!,
    id: buf.readUInt32BE(offset + 4),
    length: buf.readUInt32BE(offset + 8),
  };
}

/** Parse a JSON payload into an object; throws SyntaxError/TypeError on anything else. */
export function parseJsonPayload(payload: Buffer): Record<string, unknown> {
  const value: unknown = payload.length === 0 ? {} : JSON.parse(payload.toString("utf8"));
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError("payload is not a JSON object");
  }
  return value as Record<string, unknown>;
}
