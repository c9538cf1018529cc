import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { specJsonSchemaText } from "../../src/spec/json-schema.js";
import { ROOT } from "../helpers.js";

describe("JSON Schema", () => {
  it("is committed and up to date (regenerate with `npm run schema`)", () => {
    const committed = readFileSync(path.join(ROOT, "schema", "plinth.schema.json"), "utf8");
    expect(committed).toBe(specJsonSchemaText());
  });

  it("describes the spec's keys and enums", () => {
    const schema = JSON.parse(specJsonSchemaText()) as {
      properties: Record<string, unknown>;
      required: string[];
    };
    expect(schema.required).toEqual(expect.arrayContaining(["name", "version", "base"]));
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining([
        "packages",
        "users",
        "files",
        "services",
        "kernel",
        "init",
        "disk",
        "outputs",
      ]),
    );
  });
});
