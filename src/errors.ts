/**
 * One error hierarchy for all of plinth. Every error has a stable `code` and, where the
 * user can act on it, a `hint`; errors a user can cause (bad spec, missing tool, bad
 * input) are `UserError`s. Exit statuses are the CLI's business (src/cli/exit-status.ts).
 */

export interface Diagnostic {
  file: string;
  line: number;
  col: number;
  message: string;
}

export class PlinthError extends Error {
  readonly code: string;
  /** What the user can do about it, one sentence. */
  readonly hint?: string;

  constructor(code: string, message: string, options?: { hint?: string; cause?: unknown }) {
    super(message, { cause: options?.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options?.hint;
  }
}

/** Something the user can fix: bad input, missing host tool, unsupported option. */
export class UserError extends PlinthError {}

export class SpecError extends UserError {
  readonly diagnostics: Diagnostic[];

  constructor(diagnostics: Diagnostic[]) {
    const first = diagnostics[0];
    const summary = first
      ? `${formatDiagnostic(first)}${diagnostics.length > 1 ? ` (and ${diagnostics.length - 1} more)` : ""}`
      : "invalid spec";
    super("SPEC_INVALID", summary, { hint: "Fix the spec at the positions shown, then retry." });
    this.diagnostics = diagnostics;
  }
}

export class MissingToolError extends UserError {
  constructor(readonly tools: string[]) {
    super("TOOL_MISSING", `Missing host tool${tools.length > 1 ? "s" : ""}: ${tools.join(", ")}.`, {
      hint: "Run `plinth doctor` to see what provides them, and `plinth doctor --fix` as root to install them.",
    });
  }
}

export class UnsupportedError extends UserError {
  constructor(message: string, hint?: string) {
    super("UNSUPPORTED", message, { hint });
  }
}

export class NotFoundError extends UserError {
  constructor(message: string, hint?: string) {
    super("NOT_FOUND", message, { hint });
  }
}

export class ChecksumError extends UserError {
  constructor(what: string, expected: string, actual: string) {
    super("CHECKSUM_MISMATCH", `${what}: sha256 is ${actual}, expected ${expected}.`, {
      hint: "The file is corrupt or was changed; fetch or rebuild it.",
    });
  }
}

/** A subprocess that plinth drives failed. Carries argv, exit code, signal and stderr's tail. */
export class ToolError extends PlinthError {
  constructor(
    readonly stage: string,
    readonly argv: string[],
    readonly exitCode: number | undefined,
    readonly signal: string | undefined,
    readonly stderrTail: string,
  ) {
    const how = signal ? `was killed by ${signal}` : `exited with ${exitCode}`;
    super("TOOL_FAILED", `${stage}: \`${argv.slice(0, 3).join(" ")}\` ${how}`, {
      hint: stderrTail ? `Its last output:\n${stderrTail}` : undefined,
    });
  }
}

export class BootError extends PlinthError {
  constructor(message: string, hint?: string) {
    super("BOOT_FAILED", message, { hint });
  }
}

export class CancelledError extends PlinthError {
  constructor(stage: string) {
    super("CANCELLED", `Cancelled during ${stage}.`);
  }
}

export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.col}: ${d.message}`;
}

/** A build stage could not produce what it should, for a reason other than a tool failing. */
export class BuildError extends PlinthError {
  constructor(
    readonly stage: string,
    message: string,
  ) {
    super("BUILD_FAILED", `${stage}: ${message}`);
  }
}

/** exec, files or info on a VM whose image was built without the agent (`agent: false`). */
export class NoAgentError extends UserError {
  constructor(
    readonly vm: string,
    image: string,
  ) {
    super("NO_AGENT", `${vm} runs ${image}, which has no agent to run commands or move files.`, {
      hint: "Build the image with `agent: true` to exec in it or move files; `plinth logs` shows its console.",
    });
  }
}

const CLASSES: Record<string, { prototype: PlinthError }> = {
  NoAgentError,
  PlinthError,
  UserError,
  SpecError,
  MissingToolError,
  UnsupportedError,
  NotFoundError,
  ChecksumError,
  ToolError,
  BootError,
  CancelledError,
  BuildError,
};

/** An error as JSON (`--json` output, the rootless build's inner process): class name and fields. */
export function errorToJSON(error: PlinthError): Record<string, unknown> {
  const user = error instanceof UserError;
  return { ...error, name: error.name, code: error.code, message: error.message, user };
}

/**
 * The error `errorToJSON` described, as the same class with the same fields, so an error
 * that crossed a process boundary is handled (and exits) as it would have been in-process.
 * The constructor is not re-run: the fields are already its result.
 */
export function errorFromJSON(json: Record<string, unknown>): PlinthError {
  const name = typeof json.name === "string" ? json.name : "PlinthError";
  const known = Object.hasOwn(CLASSES, name) ? CLASSES[name] : undefined;
  const Class = known ?? (json.user === true ? UserError : PlinthError);
  const fields = { ...json };
  delete fields.user;
  const error = Object.assign(Object.create(Class.prototype) as PlinthError, fields);
  Object.defineProperty(error, "message", { value: String(json.message ?? ""), enumerable: false });
  Object.defineProperty(error, "stack", {
    value: `${name}: ${error.message}\n    (in the rootless build's inner process)`,
    enumerable: false,
  });
  return error;
}
