import type { Command } from "commander";
import { writeFileSync } from "node:fs";
import { specJsonSchemaText } from "../../spec/json-schema.js";

export function registerSchema(program: Command): void {
  program
    .command("schema")
    .description("print the JSON Schema of plinth.yaml (or write it with -o)")
    .option("-o, --output <file>", "write to this file")
    .action((opts: { output?: string }) => {
      if (opts.output) writeFileSync(opts.output, specJsonSchemaText());
      else process.stdout.write(specJsonSchemaText());
    });
}
