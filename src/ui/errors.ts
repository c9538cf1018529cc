import { formatDiagnostic, PlinthError, SpecError } from "../errors.js";
import { plural } from "../util/plural.js";

export interface FormattedError {
  message: string;
  code: string;
  lines: string[];
}

/** How an error reads to a user: one sentence, then what to do. */
export function formatError(error: unknown): FormattedError {
  if (error instanceof SpecError) {
    return {
      message: error.message,
      code: error.code,
      lines: [
        ...error.diagnostics.map(formatDiagnostic),
        `${plural(error.diagnostics.length, "problem")} found; nothing was built.`,
      ],
    };
  }
  if (error instanceof PlinthError) {
    return {
      message: error.message,
      code: error.code,
      lines: [`error: ${error.message}`, ...(error.hint ? [error.hint] : [])],
    };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { message, code: "INTERNAL", lines: [`internal error: ${message}`] };
}
