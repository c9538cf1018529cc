import { describe, expect, it } from "vitest";
import { parseMetadata } from "../../src/registry/land.js";
import { slotName } from "../../src/store/images.js";
import { fakeMetadata } from "../helpers.js";

describe("a pulled image's metadata.json names only its own slot", () => {
  const bytes = (version: string) =>
    Buffer.from(
      JSON.stringify(fakeMetadata({ name: "minimal", version, buildHash: "a".repeat(64) })),
    );

  it("refuses a version that is a path, before anything is written", () => {
    for (const v of ["../victim/9.9.9", "1.0/../../x", ".hidden", "a/b"]) {
      expect(() => parseMetadata(bytes(v), "r.example/x:1"), v).toThrow(
        /is not a plinth image's metadata.json: must be an image version/,
      );
      expect(() => slotName(v, "a".repeat(64)), v).toThrow(/is not an image version/);
    }
    expect(parseMetadata(bytes("0.1.0-20261203-747ef79-dirty"), "x").version).toBe(
      "0.1.0-20261203-747ef79-dirty",
    );
    expect(slotName("1.0.0", "b".repeat(64))).toBe("1.0.0+bbbbbbbbbbbb");
  });
});
