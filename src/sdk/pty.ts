import type { Readable, Writable } from "node:stream";
import type { AgentClient, AgentProcess, ExecStatus } from "../agent/client/index.js";
import { CancelledError } from "../errors.js";

/**
 * What `sb.pty()` runs without a command: the user's login shell ($SHELL, set from
 * /etc/passwd with `user`), else bash, else /bin/sh.
 */
export const DEFAULT_PTY_COMMAND =
  's=${SHELL:-}; [ -x "$s" ] || s=$(command -v bash) || s=/bin/sh; exec "$s" -l';

export interface PtyOptions {
  /** Window size; default 24 rows × 80 columns (`resize` changes it). */
  rows?: number;
  cols?: number;
  /** Added to the agent's environment. TERM is xterm-256color unless set here. */
  env?: Record<string, string>;
  cwd?: string;
  /** User name or uid to run as; its login shell is the default command. */
  user?: string | number;
  /** The agent kills the process group with SIGKILL after this long (`timedOut` in the result). */
  timeoutMs?: number;
  /**
   * Each chunk of terminal output as it arrives. Without it, read `output`: unread output
   * pauses the program (flow control), as a terminal nobody reads would.
   */
  onData?: (chunk: Buffer) => void;
  /** Abort: kill with `killSignal` (default SIGKILL); `exited` then rejects with CancelledError. */
  signal?: AbortSignal;
  killSignal?: string;
}

/**
 * An interactive program on a pseudo-terminal in the sandbox (like `docker exec -it`):
 * write what is typed, read (or get through `onData`) what the terminal shows, resize it
 * when the window changes. The terminal has one output: stdout and stderr both come on
 * `output`, with the terminal's echo of the input.
 */
export class SandboxPty {
  /** What the terminal shows. */
  readonly output: Readable;
  /** What is typed: a Writable to pipe into (ending it is `end()`). */
  readonly input: Writable;
  /** Settles when the program exited and all its output arrived: exit code or signal. */
  readonly exited: Promise<ExecStatus>;
  private size: { rows: number; cols: number };
  private readonly process: AgentProcess;

  /** @internal Use `sb.pty()`. */
  constructor(client: AgentClient, command: string | string[] | undefined, options: PtyOptions) {
    this.size = { rows: options.rows ?? 24, cols: options.cols ?? 80 };
    this.process = client.spawn(command ?? DEFAULT_PTY_COMMAND, {
      pty: this.size,
      stdin: true,
      env: options.env,
      cwd: options.cwd,
      user: options.user,
      timeoutMs: options.timeoutMs,
    });
    this.output = this.process.stdout;
    this.input = this.process.stdin!;
    // The terminal has no stderr (it ends empty): never let it hold anything up.
    this.process.stderr.resume();
    if (options.onData) this.output.on("data", options.onData);

    const { signal } = options;
    const child = this.process;
    this.exited = new Promise<ExecStatus>((resolve, reject) => {
      const onAbort = () => {
        child.kill(options.killSignal ?? "SIGKILL");
        child.abandon();
        reject(new CancelledError("pty"));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      child.exited
        .then(resolve, reject)
        .finally(() => signal?.removeEventListener("abort", onAbort));
    });
    // A caller that never looks at `exited` must not get an unhandled rejection.
    this.exited.catch(() => {});
  }

  /** The current window size. */
  get rows(): number {
    return this.size.rows;
  }

  get cols(): number {
    return this.size.cols;
  }

  /** Type: resolves once the agent accepted the bytes (flow control). */
  write(data: string | Uint8Array): Promise<void> {
    return new Promise((resolve, reject) =>
      this.input.write(data, (error) => (error ? reject(error) : resolve())),
    );
  }

  /** No more input: the terminal's end-of-file (^D) when the program reads lines. */
  end(): void {
    this.input.end();
  }

  /**
   * Change the window size (the program gets SIGWINCH). Rejects with AgentRemoteError
   * (`remoteCode` NOT_RUNNING) once the program is gone.
   */
  async resize(rows: number, cols: number): Promise<void> {
    await this.process.resize(rows, cols);
    this.size = { rows, cols };
  }

  /** Signal the terminal's process group: SIGKILL by default, "SIGINT" is Ctrl-C, "SIGHUP" a hang-up. */
  kill(signal = "SIGKILL"): void {
    this.process.kill(signal);
  }
}
