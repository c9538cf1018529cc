import { describe, expect, it } from "vitest";
import {
  errorFromJSON,
  errorToJSON,
  MissingToolError,
  PlinthError,
  SpecError,
  UserError,
} from "../src/errors.js";

/** What crosses the rootless build's namespace boundary: JSON text. */
const across = (e: PlinthError) => errorFromJSON(JSON.parse(JSON.stringify(errorToJSON(e))));

describe("errors across a process boundary", () => {
  it("keep their class, code, hint and fields", () => {
    const spec = across(new SpecError([{ file: "plinth.yaml", line: 3, col: 5, message: "bad" }]));
    expect(spec).toBeInstanceOf(SpecError);
    expect(spec).toBeInstanceOf(UserError);
    expect(spec).toMatchObject({ code: "SPEC_INVALID", message: "plinth.yaml:3:5: bad" });
    expect((spec as SpecError).diagnostics).toEqual([
      { file: "plinth.yaml", line: 3, col: 5, message: "bad" },
    ]);
    const tool = across(new MissingToolError(["mmdebstrap"]));
    expect(tool).toBeInstanceOf(MissingToolError);
    expect(tool.hint).toMatch(/plinth doctor/);
  });

  it("an unknown class stays a UserError when it was one", () => {
    class OwnerError extends UserError {}
    const e = across(new OwnerError("UNKNOWN_OWNER", "no such user", { hint: "add it" }));
    expect(e).toBeInstanceOf(UserError);
    expect(e).toMatchObject({ code: "UNKNOWN_OWNER", message: "no such user", hint: "add it" });
    expect(across(new PlinthError("X", "y"))).not.toBeInstanceOf(UserError);
  });
});
