import { z } from "zod";
import { SpecSchema } from "./schema.js";

/** The JSON Schema editors use to complete and check plinth.yaml (committed in schema/). */
export function specJsonSchema(): object {
  return {
    ...z.toJSONSchema(SpecSchema, { io: "input", unrepresentable: "any" }),
    $id: "https://plinth.dev/schema/plinth.schema.json",
    title: "plinth image spec",
  };
}

export function specJsonSchemaText(): string {
  return JSON.stringify(specJsonSchema(), null, 2) + "\n";
}
