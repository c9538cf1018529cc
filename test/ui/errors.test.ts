import { describe, expect, it } from "vitest";
import { SpecError } from "../../src/errors.js";
import { formatError } from "../../src/ui/errors.js";
import { plural } from "../../src/util/plural.js";

describe("counts in messages", () => {
  it("plural: one noun for 1, the plural for anything else", () => {
    expect(plural(1, "problem")).toBe("1 problem");
    expect(plural(2, "problem")).toBe("2 problems");
    expect(plural(0, "file")).toBe("0 files");
    expect(plural(3, "index", "indexes")).toBe("3 indexes");
  });

  it("a spec error says 1 problem or N problems", () => {
    const d = { file: "plinth.yaml", line: 1, col: 1, message: "bad" };
    expect(formatError(new SpecError([d])).lines.at(-1)).toBe(
      "1 problem found; nothing was built.",
    );
    expect(formatError(new SpecError([d, d])).lines.at(-1)).toBe(
      "2 problems found; nothing was built.",
    );
  });
});
