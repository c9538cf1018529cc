import { describe, expect, it } from "vitest";
import { FrameTracker } from "../../src/agent/guest/port-readable.js";
import { Channel, FrameType } from "../../src/agent/protocol/constants.js";
import { encodeFrame } from "../../src/agent/protocol/frame.js";

const frame = (size: number) => encodeFrame(FrameType.DATA, 7, Buffer.alloc(size, 1), Channel.DATA);

describe("FrameTracker", () => {
  it("knows when the bytes seen end inside a frame, across any split", () => {
    const stream = Buffer.concat([frame(10), frame(70_000), frame(0)]);
    for (const step of [1, 3, 16, 4096, 65536, stream.length]) {
      const t = new FrameTracker();
      const ends: number[] = [];
      for (let i = 0; i < stream.length; i += step) {
        const end = Math.min(i + step, stream.length);
        t.feed(stream.subarray(i, end));
        if (!t.midFrame) ends.push(end);
      }
      // Only ever at a real boundary, and always at the end.
      expect(
        ends.every((e) => [26, 26 + 70_016, stream.length].includes(e)),
        `step ${step}`,
      ).toBe(true);
      expect(ends.at(-1)).toBe(stream.length);
    }
  });

  it("treats bytes that are not frames (padding, garbage) as a boundary", () => {
    const t = new FrameTracker();
    t.feed(Buffer.alloc(1000));
    expect(t.midFrame).toBe(false);
    t.feed(Buffer.from([0xf7, 0x00]));
    expect(t.midFrame).toBe(false);
    const header = Buffer.from(frame(0).subarray(0, 16));
    header.writeUInt32BE(2 * 1024 * 1024, 8); // larger than any frame may be
    t.feed(header);
    expect(t.midFrame).toBe(false);
  });
});
