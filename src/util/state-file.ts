import { readFileSync } from "node:fs";
import type { z } from "zod";
import { NotFoundError, UserError } from "../errors.js";

/**
 * Read a JSON state file plinth wrote (metadata.json, a VM's config.json) through its
 * schema: a missing, corrupt or foreign file is one clear sentence, never a cast that
 * fails later somewhere else.
 */
export function readStateFile<T>(
  file: string,
  schema: z.ZodType<T>,
  what: string,
  o: { hint: string },
): T {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT")
      throw new NotFoundError(`No ${what} at ${file}.`, o.hint);
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UserError("STATE_CORRUPT", `The ${what} ${file} is not valid JSON.`, o);
  }
  const r = schema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const at = issue.path.length ? ` at ${issue.path.join(".")}` : "";
    throw new UserError(
      "STATE_CORRUPT",
      `The ${what} ${file} is not one this plinth can read${at}: ${issue.message}.`,
      o,
    );
  }
  return r.data;
}
