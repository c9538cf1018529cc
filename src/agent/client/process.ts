import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { CancelledError } from "../../errors.js";
import { CreditSender } from "../protocol/credit.js";
import { Channel } from "../protocol/constants.js";
import type { ExecRequest, ExecResponse, PtySize } from "../protocol/messages.js";
import type { Connection } from "./connection.js";
import { AgentExecError, AgentProtocolError, AgentTimeoutError } from "./errors.js";
import { IncomingStream } from "./incoming.js";
import { OutgoingStream } from "./outgoing.js";

/** Common options of `spawn` and `exec`. */
export interface SpawnOptions {
  /** Arguments: with them (or `shell: false`) a string command is a program, not a shell line. */
  args?: string[];
  /** A string command runs through a shell (default /bin/sh) unless `args` are given; a string picks the shell. */
  shell?: boolean | string;
  cwd?: string;
  /** Added to (or, with `clearEnv`, replacing) the agent's environment. */
  env?: Record<string, string>;
  clearEnv?: boolean;
  /** User name or uid to run as (the agent must run as root). */
  user?: string | number;
  /** The agent kills the process group with SIGKILL after this long; the result says `timedOut`. */
  timeoutMs?: number;
  /** Abort: kill with `killSignal` (default SIGKILL); exec then rejects with CancelledError. */
  signal?: AbortSignal;
  killSignal?: string;
  /**
   * Run on a pseudo-terminal in the guest (protocol 1.1; an older agent makes this throw
   * AgentUnsupportedError). `true` is 24 rows × 80 columns. The terminal's output (the
   * program's stdout and stderr, and the echo of its input) comes on `stdout` only;
   * `stderr` stays empty. TERM is xterm-256color unless `env` sets it.
   */
  pty?: boolean | PtySize;
}

export interface ExecStatus {
  pid: number;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  durationMs: number;
}

export interface ExecOptions extends SpawnOptions {
  stdin?: string | Uint8Array | Readable;
  /** Each chunk as it arrives (output is still collected unless `buffer: false`). */
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  /** Collect stdout/stderr into the result (default true). */
  buffer?: boolean;
  /** "utf8" (default) gives strings, "buffer" Buffers. */
  encoding?: "utf8" | "buffer";
  /** Reject with AgentExecError on a non-zero exit, a signal or a timeout (default false). */
  reject?: boolean;
}

export interface ExecResult<T extends string | Buffer = string> extends ExecStatus {
  stdout: T;
  stderr: T;
}

/** How long the host waits past the agent-side timeout before it gives up on the agent. */
const TIMEOUT_GRACE_MS = 10_000;

/** A terminal dimension as the protocol takes it: an integer 1–65535. */
function checkDimension(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > 0xffff) {
    throw new RangeError(`pty ${name} must be an integer from 1 to 65535, not ${value}`);
  }
  return value;
}

function toPty(pty: SpawnOptions["pty"]): ExecRequest["pty"] {
  if (pty === undefined || pty === false) return undefined;
  if (pty === true) return true;
  return {
    rows: pty.rows === undefined ? undefined : checkDimension("rows", pty.rows),
    cols: pty.cols === undefined ? undefined : checkDimension("cols", pty.cols),
  };
}

export function toExecRequest(command: string | string[], options: SpawnOptions): ExecRequest {
  const base = {
    cwd: options.cwd,
    env: options.env,
    clearEnv: options.clearEnv,
    user: options.user,
    timeoutMs: options.timeoutMs,
    pty: toPty(options.pty),
  };
  if (Array.isArray(command)) {
    if (options.shell) throw new TypeError("shell needs the command as one string");
    if (command.length === 0) throw new TypeError("the command is empty");
    return { ...base, argv: [...command, ...(options.args ?? [])] };
  }
  if (options.args !== undefined || options.shell === false) {
    return { ...base, argv: [command, ...(options.args ?? [])] };
  }
  return {
    ...base,
    command,
    shell: typeof options.shell === "string" ? options.shell : undefined,
  };
}

/**
 * A process running in the guest. Its stdout and stderr are Readables under flow
 * control: not reading them pauses the process (its pipe fills) without holding up any
 * other request. `exited` settles once the process exited and all output arrived; read
 * the streams (or resume them) for that to happen.
 *
 * With `pty` the process runs on a terminal: `stdout` is the terminal's output, `stderr`
 * ends empty, `stdin` is always there (the terminal's input; ending it sends the
 * terminal's end-of-file, ^D, when the terminal is in line mode) and `resize` changes the
 * window size.
 */
export class AgentProcess {
  readonly stdin: Writable | null;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly exited: Promise<ExecStatus>;
  /** It runs on a terminal (`pty`). */
  readonly tty: boolean;
  private readonly cancel: (signal?: string) => void;
  private readonly abandonRequest: () => void;
  private readonly requestId: number;

  constructor(
    private readonly connection: Connection,
    command: string | string[],
    options: SpawnOptions & { stdin?: boolean },
    /** Timeout of the control requests it sends (resize). */
    private readonly requestTimeoutMs = 30_000,
  ) {
    const request = toExecRequest(command, options);
    this.tty = request.pty !== undefined;
    const streams = new Map<number, IncomingStream>();
    const stdinSender = new CreditSender((chunk) =>
      connection.writer.data(started.id, Channel.STDIN, chunk),
    );
    const clientTimeout = options.timeoutMs ? options.timeoutMs + TIMEOUT_GRACE_MS : 0;
    const started = connection.start<ExecResponse>(
      "exec",
      { ...request, stdin: options.stdin ?? false },
      {
        onData: (channel, payload) => streams.get(channel)?.deliver(payload),
        onCredit: (channel, bytes) => {
          if (channel === Channel.STDIN) stdinSender.grant(bytes);
        },
      },
      clientTimeout,
    );
    for (const channel of [Channel.STDOUT, Channel.STDERR]) {
      streams.set(
        channel,
        new IncomingStream((bytes) => connection.writer.credit(started.id, channel, bytes)),
      );
    }
    this.stdout = streams.get(Channel.STDOUT)!;
    this.stderr = streams.get(Channel.STDERR)!;
    this.requestId = started.id;
    this.stdin =
      options.stdin || this.tty
        ? new OutgoingStream(stdinSender, () => connection.writer.end(started.id, Channel.STDIN))
        : null;
    this.cancel = started.cancel;
    this.abandonRequest = started.abandon;

    this.exited = started.result.then(
      (response) => ({
        pid: response.pid,
        exitCode: response.exitCode,
        signal: response.signal,
        timedOut: response.timedOut,
        durationMs: response.durationMs,
      }),
      (error: unknown) => {
        if (error instanceof AgentTimeoutError) {
          // The agent missed its own deadline: make sure the process goes, then give up on it.
          started.cancel("SIGKILL");
          started.abandon();
        }
        throw error;
      },
    );
    // Output ends with the request, either way; errors surface through `exited` only, so
    // an unread stderr never throws.
    const end = () => {
      stdinSender.close();
      for (const stream of streams.values()) stream.finish();
    };
    this.exited.then(end, end);
  }

  /** Send a signal to the process group (default SIGTERM). */
  kill(signal = "SIGTERM"): void {
    this.cancel(signal);
  }

  /**
   * Set the window size of its terminal (`exec.resize`; the kernel sends SIGWINCH to the
   * terminal's foreground process group). Resolves once the agent applied it; rejects
   * with AgentRemoteError (`remoteCode` NOT_RUNNING) once the process is gone, and with
   * AgentProtocolError for a process without `pty`.
   */
  async resize(rows: number, cols: number): Promise<void> {
    if (!this.tty) throw new AgentProtocolError("resize needs a process started with pty");
    const args = {
      id: this.requestId,
      rows: checkDimension("rows", rows),
      cols: checkDimension("cols", cols),
    };
    await this.connection.start("exec.resize", args, {}, this.requestTimeoutMs).result;
  }

  /** Stop caring: output is drained and discarded until the process is gone. */
  abandon(): void {
    this.abandonRequest();
    this.stdout.resume();
    this.stderr.resume();
  }
}

/** Run a command to completion, collecting its output. */
export async function runExec(
  connection: Connection,
  command: string | string[],
  options: ExecOptions,
): Promise<ExecResult<string | Buffer>> {
  const { signal } = options;
  signal?.throwIfAborted();
  const stdinData = options.stdin;
  const child = new AgentProcess(connection, command, {
    ...options,
    stdin: stdinData !== undefined,
  });
  const collect = options.buffer ?? true;
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on("data", (chunk: Buffer) => {
    if (collect) out.push(chunk);
    options.onStdout?.(chunk);
  });
  child.stderr.on("data", (chunk: Buffer) => {
    if (collect) err.push(chunk);
    options.onStderr?.(chunk);
  });
  if (child.stdin && stdinData !== undefined) {
    const source =
      stdinData instanceof Readable ? stdinData : Readable.from([Buffer.from(stdinData)]);
    // A process may exit without reading its input; that is not an error of exec.
    pipeline(source, child.stdin).catch(() => {});
  } else {
    // A terminal without input gets its end at once (^D in line mode), as a process
    // without a pty gets /dev/null.
    child.stdin?.end();
  }

  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => {
      child.kill(options.killSignal ?? "SIGKILL");
      child.abandon();
      reject(new CancelledError("exec"));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
  aborted.catch(() => {});
  let status: ExecStatus;
  try {
    status = await Promise.race([child.exited, aborted]);
  } finally {
    if (onAbort) signal?.removeEventListener("abort", onAbort);
  }
  const decode = (chunks: Buffer[]) =>
    options.encoding === "buffer" ? Buffer.concat(chunks) : Buffer.concat(chunks).toString("utf8");
  const result = { ...status, stdout: decode(out), stderr: decode(err) };
  if (options.reject && (status.exitCode !== 0 || status.signal || status.timedOut)) {
    const tail = Buffer.concat(err).toString("utf8").trimEnd().split("\n").slice(-15).join("\n");
    throw new AgentExecError(command, status.exitCode, status.signal, status.timedOut, tail);
  }
  return result;
}
