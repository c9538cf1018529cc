import { open } from "node:fs/promises";
import { execa, type Options } from "execa";
import { CancelledError, ToolError } from "../errors.js";

export interface RunOptions {
  /** Stage name used in error messages. */
  stage: string;
  signal?: AbortSignal;
  env?: Record<string, string | undefined>;
  input?: string | Buffer;
  cwd?: string;
  timeoutMs?: number;
  /**
   * Each line of output, stdout and stderr alike, as it is printed (for progress). The
   * output is still collected as before: the return value and a failure's tail are unchanged.
   */
  onLine?: (line: string) => void;
  /**
   * Write stdout, byte for byte, to this file (created or truncated) instead of collecting
   * it: for binary output such as a decompressor's, which a string would corrupt. `run`
   * then returns "", a failure's tail is stderr's, and `onLine` sees stderr only.
   */
  stdoutFile?: string;
}

const TAIL_LINES = 15;

/**
 * Run a host tool to completion. Failures become a ToolError carrying argv, exit code,
 * signal and the tail of its output, so the CLI can say which stage failed and why.
 */
export async function run(argv: string[], options: RunOptions): Promise<string> {
  const [cmd, ...args] = argv;
  const { onLine } = options;
  // execa splits the stream into lines for a generator; yielding each one unchanged
  // (newline kept) leaves the collected output byte for byte what it was.
  const tap = onLine && {
    *transform(line: unknown) {
      onLine(lastUpdate(String(line)));
      yield line;
    },
    preserveNewlines: true,
  };
  // The tool writes to the file itself (its stdout is the file's descriptor): the bytes
  // never pass through node, so a large output costs what a shell redirection would
  // (execa's `{ file }` streams them through node: a 50 MB kernel then takes 20 s, not 0.3 s).
  const file = options.stdoutFile ? await open(options.stdoutFile, "w") : undefined;
  const execOptions: Options = {
    cancelSignal: options.signal,
    env: options.env,
    input: options.input,
    cwd: options.cwd,
    timeout: options.timeoutMs,
    all: true,
    stripFinalNewline: true,
    forceKillAfterDelay: 3000,
    ...(tap && { stdout: tap, stderr: tap }),
    // Any descriptor works (node's spawn takes it); execa's types list only 3 to 9.
    ...(file && { stdout: file.fd as Options["stdout"], all: false }),
  };
  try {
    const result = await execa(cmd!, args, execOptions);
    return String(result.stdout ?? "");
  } catch (error) {
    if (options.signal?.aborted) throw new CancelledError(options.stage);
    const e = error as {
      exitCode?: number;
      signal?: string;
      all?: string;
      stderr?: string;
      shortMessage?: string;
    };
    const output = String(e.all ?? e.stderr ?? e.shortMessage ?? "");
    const tail = output.trimEnd().split("\n").slice(-TAIL_LINES).join("\n");
    throw new ToolError(options.stage, argv, e.exitCode, e.signal ?? undefined, tail);
  } finally {
    await file?.close();
  }
}

/** A line without its newline; of a line redrawn with `\r` (a progress bar), what shows last. */
export function lastUpdate(line: string): string {
  return (
    line
      .replace(/\r?\n$/, "")
      .split("\r")
      .filter(Boolean)
      .at(-1) ?? ""
  );
}

/** Like `run` but returns undefined instead of throwing (for probes). */
export async function tryRun(argv: string[], timeoutMs = 10_000): Promise<string | undefined> {
  try {
    const r = await execa(argv[0]!, argv.slice(1), { timeout: timeoutMs, reject: true, all: true });
    return String(r.all ?? "");
  } catch {
    return undefined;
  }
}
