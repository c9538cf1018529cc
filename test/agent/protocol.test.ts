import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  DATA_CHUNK_SIZE,
  FrameType,
  HEADER_SIZE,
  INITIAL_WINDOW,
  MAX_FRAME_SIZE,
} from "../../src/agent/protocol/constants.js";
import { crc32 } from "../../src/agent/protocol/crc32.js";
import { CreditReceiver, CreditSender } from "../../src/agent/protocol/credit.js";
import { FrameDecoder } from "../../src/agent/protocol/decoder.js";
import { encodeFrame, encodeHeader, type Frame } from "../../src/agent/protocol/frame.js";
import { protocolMismatch } from "../../src/agent/protocol/version.js";

function collect(maxFrameSize?: number) {
  const out = { frames: [] as Frame[], garbage: 0, oversize: [] as number[] };
  const decoder = new FrameDecoder(
    {
      frame: (f) => out.frames.push({ ...f, payload: Buffer.from(f.payload) }),
      oversize: (h) => out.oversize.push(h.id),
      garbage: (n) => (out.garbage += n),
    },
    maxFrameSize,
  );
  return { decoder, out };
}

/** Feed `bytes` in random chunks of 1..max bytes. */
function feed(decoder: FrameDecoder, bytes: Buffer, max = 300): void {
  for (let at = 0; at < bytes.length;) {
    const n = 1 + Math.floor(Math.random() * max);
    decoder.push(bytes.subarray(at, at + n));
    at += n;
  }
}

const frame = (id: number, payload: Buffer, type: number = FrameType.DATA, channel = 2) =>
  encodeFrame(type, id, payload, channel);

describe("frame codec", () => {
  it("computes the standard CRC-32", () => {
    expect(crc32(Buffer.from("123456789"))).toBe(0xcbf43926);
  });

  it("lays out the header as documented", () => {
    const f = frame(0x01020304, Buffer.from("hi"), FrameType.REQUEST, 7);
    expect([...f.subarray(0, 12)]).toEqual([0xf7, 0x50, 1, 7, 1, 2, 3, 4, 0, 0, 0, 2]);
    expect(f.readUInt32BE(12)).toBe(crc32(f, 0, 12));
    expect(f.subarray(HEADER_SIZE).toString()).toBe("hi");
  });

  it("decodes frames whatever the chunking, down to single bytes", () => {
    const payloads = Array.from({ length: 50 }, (_, i) => randomBytes(i * 37));
    const bytes = Buffer.concat(payloads.map((p, i) => frame(i + 1, p)));
    for (const max of [1, 7, 300, 100_000]) {
      const { decoder, out } = collect();
      feed(decoder, bytes, max);
      expect(out.frames.map((f) => f.id)).toEqual(payloads.map((_, i) => i + 1));
      expect(out.frames.every((f, i) => f.payload.equals(payloads[i]!))).toBe(true);
      expect(out.garbage).toBe(0);
      expect(decoder.bufferedBytes).toBe(0);
    }
  });

  it("skips garbage to the next valid header and reports how much it skipped", () => {
    const { decoder, out } = collect();
    const junk = Buffer.from("\xf7\x50 console noise \xf7\xf7\x50", "latin1");
    decoder.push(
      Buffer.concat([junk, frame(1, Buffer.from("a")), junk, frame(2, Buffer.from("b"))]),
    );
    expect(out.frames.map((f) => f.payload.toString())).toEqual(["a", "b"]);
    expect(out.garbage).toBe(2 * junk.length);
  });

  it("treats zero bytes between frames as silent padding", () => {
    const { decoder, out } = collect();
    feed(decoder, Buffer.concat([Buffer.alloc(5000), frame(1, Buffer.from("x")), Buffer.alloc(3)]));
    expect(out.frames).toHaveLength(1);
    expect(out.garbage).toBe(0);
  });

  it("drops a frame whose header was corrupted and resyncs on the next", () => {
    const { decoder, out } = collect();
    const bad = frame(1, Buffer.from("lost"));
    bad[6]! ^= 0x10; // a bit flip in the id: the CRC no longer matches
    decoder.push(Buffer.concat([bad, frame(2, Buffer.from("kept"))]));
    expect(out.frames.map((f) => f.id)).toEqual([2]);
    // Zero bytes count as padding, not garbage.
    expect(out.garbage).toBe(bad.filter((b) => b !== 0).length);
  });

  it("reports an oversized frame and discards its payload without buffering it", () => {
    const { decoder, out } = collect(1000);
    const header = encodeHeader({ type: FrameType.REQUEST, channel: 0, id: 9, length: 50_000 });
    decoder.push(header);
    expect(out.oversize).toEqual([9]);
    for (let i = 0; i < 50; i++) {
      decoder.push(randomBytes(1000));
      expect(decoder.bufferedBytes).toBe(0);
    }
    decoder.push(frame(10, Buffer.from("next")));
    expect(out.frames.map((f) => f.id)).toEqual([10]);
  });

  it("recovers every frame from random garbage interleaved at random", () => {
    for (let round = 0; round < 100; round++) {
      const { decoder, out } = collect();
      const parts: Buffer[] = [];
      const ids: number[] = [];
      for (let i = 1; i <= 20; i++) {
        if (Math.random() < 0.5) parts.push(randomBytes(Math.floor(Math.random() * 500)));
        parts.push(frame(i, randomBytes(Math.floor(Math.random() * 2000))));
        ids.push(i);
      }
      feed(decoder, Buffer.concat(parts), 700);
      expect(out.frames.map((f) => f.id)).toEqual(ids);
    }
  });

  it("refuses to encode a payload over the limit", () => {
    expect(() => encodeFrame(FrameType.DATA, 1, Buffer.alloc(MAX_FRAME_SIZE + 1))).toThrow(
      RangeError,
    );
  });
});

describe("credit", () => {
  it("sends within credit, holds the rest, and resumes when credit comes", () => {
    const sent: number[] = [];
    const sender = new CreditSender((c) => sent.push(c.length), 100_000);
    let drained = false;
    expect(sender.write(Buffer.alloc(150_000))).toBe(false);
    sender.onDrain(() => (drained = true));
    expect(sent).toEqual([DATA_CHUNK_SIZE, 100_000 - DATA_CHUNK_SIZE]);
    expect(drained).toBe(false);
    sender.grant(60_000);
    expect(sent.reduce((a, b) => a + b)).toBe(150_000);
    expect(drained).toBe(true);
    expect(sender.available).toBe(10_000);
  });

  it("grants a quarter window at a time and detects a sender that overruns", () => {
    const grants: number[] = [];
    const receiver = new CreditReceiver((n) => grants.push(n), 1000);
    expect(receiver.receive(1000)).toBe(true);
    receiver.consume(200);
    expect(grants).toEqual([]);
    receiver.consume(100);
    expect(grants).toEqual([300]);
    expect(receiver.receive(300)).toBe(true);
    expect(receiver.receive(1)).toBe(false);
  });

  it("never deadlocks: a consumer that keeps up moves any amount", () => {
    const link: { receiver?: CreditReceiver } = {};
    const sender = new CreditSender((chunk) => {
      expect(link.receiver!.receive(chunk.length)).toBe(true);
      queueMicrotask(() => link.receiver!.consume(chunk.length));
    });
    link.receiver = new CreditReceiver((n) => sender.grant(n));
    let written = 0;
    return new Promise<void>((resolve) => {
      const pump = () => {
        while (written < 10 * INITIAL_WINDOW) {
          written += 10_000;
          if (!sender.write(Buffer.alloc(10_000))) return sender.onDrain(pump);
        }
        sender.onDrain(resolve);
      };
      pump();
    });
  });
});

describe("protocol version", () => {
  it("accepts any minor of the same major and refuses another major", () => {
    expect(protocolMismatch({ major: 1, minor: 7 }, { major: 1, minor: 0 })).toBeUndefined();
    expect(protocolMismatch({ major: 2, minor: 0 }, { major: 1, minor: 0 })).toMatch(/major/);
  });
});
