import { randomBytes } from "node:crypto";
import type { Duplex } from "node:stream";
import { PLINTH_VERSION } from "../../version.js";
import { HEADER_SIZE, MAX_FRAME_SIZE, PROTOCOL_VERSION } from "../protocol/constants.js";
import {
  ErrorCode,
  FEATURES,
  type AgentInfo,
  type ErrorPayload,
  type HelloResponse,
  type IdentityRequest,
  type IdentityResponse,
  type PingResponse,
  type ProtocolVersion,
} from "../protocol/messages.js";
import { isProtocolVersion } from "../protocol/version.js";
import { Connection } from "./connection.js";
import {
  AgentClosedError,
  AgentProtocolError,
  AgentRemoteError,
  AgentTimeoutError,
  AgentUnsupportedError,
  AgentVersionError,
} from "./errors.js";
import { AgentFiles } from "./files.js";
import {
  AgentProcess,
  runExec,
  type ExecOptions,
  type ExecResult,
  type SpawnOptions,
} from "./process.js";

export interface AgentClientOptions {
  /** Timeout of control requests (ping, info, stat, mkdir, …); 0 disables. Default 30 s. */
  requestTimeoutMs?: number;
  /** Session notices: the agent (or this client) skipped garbage, a frame was refused, … */
  onNotice?: (notice: ErrorPayload) => void;
  /** Sent in hello, shown in the agent's log. */
  clientName?: string;
}

export interface HelloOptions {
  /** Give up after this long. Default 10 s. */
  timeoutMs?: number;
  /** Retry hello, with padding, when no reply came this long. Default 1 s. */
  retryMs?: number;
  /** Send the resync padding before the first hello too (e.g. right after a snapshot restore). */
  pad?: boolean;
  /** Protocol version to announce; only tests change it. */
  protocol?: ProtocolVersion;
}

/**
 * The host's client of the guest agent, over any Duplex byte stream (a virtio-serial
 * chardev socket, a vsock connection, a Unix socket, a pipe to `plinth-agent --stdio`).
 * Call `hello()` first (or use `AgentClient.connect`). Requests run concurrently.
 */
export class AgentClient {
  readonly files: AgentFiles;
  private readonly connection: Connection;
  private readonly requestTimeoutMs: number;
  private greeting: HelloResponse | undefined;

  constructor(
    io: Duplex,
    private readonly options: AgentClientOptions = {},
  ) {
    this.connection = new Connection(io, (notice) => options.onNotice?.(notice));
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.files = new AgentFiles(
      this.connection,
      () => this.requestTimeoutMs,
      () => this.requireHello(),
    );
  }

  /** A client that has said hello. */
  static async connect(
    io: Duplex,
    options: AgentClientOptions & HelloOptions = {},
  ): Promise<AgentClient> {
    const client = new AgentClient(io, options);
    try {
      await client.hello(options);
    } catch (error) {
      await client.close();
      throw error;
    }
    return client;
  }

  /** What the agent said at hello, once it did. */
  get agent(): HelloResponse | undefined {
    return this.greeting;
  }

  /**
   * Start a session: check the protocol version and learn the agent's capabilities. A
   * hello on a connection that already had one starts a new session in the agent, which
   * drops everything of the old one (its requests here fail with AgentClosedError).
   * Replies are matched by a fresh nonce, so leftovers of an earlier session on the same
   * channel are ignored; a hello without reply is repeated, with padding that completes
   * any partial frame an earlier session left behind (see docs/agent-protocol.md).
   */
  async hello(options: HelloOptions = {}): Promise<HelloResponse> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    const retryMs = options.retryMs ?? 1000;
    const protocol = options.protocol ?? PROTOCOL_VERSION;
    if (this.greeting) {
      this.connection.rejectAll(new AgentClosedError("A new hello reset the agent session."));
    }
    this.greeting = undefined;
    const deadline = performance.now() + timeoutMs;
    let pad = options.pad ?? false;
    for (;;) {
      const left = deadline - performance.now();
      if (left <= 0) throw new AgentTimeoutError("hello", timeoutMs);
      const nonce = randomBytes(8).toString("hex");
      if (pad) this.connection.writer.raw(Buffer.alloc(HEADER_SIZE + MAX_FRAME_SIZE));
      const started = this.connection.start<HelloResponse>(
        "hello",
        {
          protocol,
          nonce,
          pad,
          client: this.options.clientName ?? `plinth ${PLINTH_VERSION}`,
        },
        { accept: (reply) => reply.nonce === nonce },
        Math.min(retryMs, left),
      );
      try {
        const reply = await started.result;
        if (!isProtocolVersion(reply.protocol) || reply.protocol.major !== protocol.major) {
          throw new AgentVersionError(reply.version, reply.protocol, protocol);
        }
        this.greeting = reply;
        return reply;
      } catch (error) {
        if (error instanceof AgentRemoteError && error.remoteCode === ErrorCode.PROTOCOL_MISMATCH) {
          const d = error.details;
          throw new AgentVersionError(
            typeof d.agentVersion === "string" ? d.agentVersion : undefined,
            isProtocolVersion(d.agentProtocol) ? d.agentProtocol : undefined,
            protocol,
          );
        }
        if (!(error instanceof AgentTimeoutError)) throw error;
        pad = true;
      }
    }
  }

  /** Round-trip time in ms. */
  async ping(): Promise<number> {
    const t0 = performance.now();
    await this.call<PingResponse>("ping");
    return performance.now() - t0;
  }

  /**
   * What the agent is and runs. From a 1.0 agent (which sent `agent.node`) `runtime`
   * reads `node <version>`, and `requests`, `connections`, `orphansReaped` are absent.
   */
  async info(): Promise<AgentInfo> {
    const info = await this.call<AgentInfo>("info");
    const agent = info.agent as AgentInfo["agent"] & { node?: unknown };
    if (agent.runtime === undefined && typeof agent.node === "string") {
      agent.runtime = `node ${agent.node}`;
    }
    return info;
  }

  /**
   * The agent announced `capability` at hello: an operation (`exec.resize`) or a feature
   * (`exec.pty`). False before hello.
   */
  supports(capability: string): boolean {
    return this.greeting?.capabilities.includes(capability) ?? false;
  }

  /**
   * Start a process and stream its stdio. `stdin: true` gives a Writable `stdin`.
   * Read (or resume) stdout and stderr: unread output pauses the process. With `pty` it
   * runs on a terminal: output on stdout only, `stdin` always writable, `resize()`.
   */
  spawn(
    command: string | string[],
    options: SpawnOptions & { stdin?: boolean } = {},
  ): AgentProcess {
    this.requireHello();
    this.requireFeatures(options);
    return new AgentProcess(this.connection, command, options, this.requestTimeoutMs);
  }

  /**
   * Run a command to completion. An array is argv (no shell); a string runs through
   * /bin/sh -c unless `args` are given. Resolves with exit code or signal and the
   * collected output (strings, or Buffers with `encoding: "buffer"`); a non-zero exit
   * only rejects with `reject: true`.
   */
  exec(
    command: string | string[],
    options?: ExecOptions & { encoding?: "utf8" },
  ): Promise<ExecResult<string>>;
  exec(
    command: string | string[],
    options: ExecOptions & { encoding: "buffer" },
  ): Promise<ExecResult<Buffer>>;
  async exec(
    command: string | string[],
    options: ExecOptions = {},
  ): Promise<ExecResult<string | Buffer>> {
    this.requireHello();
    this.requireFeatures(options);
    return runExec(this.connection, command, options);
  }

  /** Power the guest off (or reboot it). Resolves once the agent confirmed; the guest goes down after. */
  async shutdown(action: "poweroff" | "reboot" = "poweroff"): Promise<void> {
    await this.call("shutdown", { action });
  }

  /**
   * Give a restored or forked guest its own identity (protocol 1.2): `entropy` is mixed
   * into the kernel's RNG and the CRNG reseeded, the clock set to `timeMs`, the hostname
   * set. An older agent gets AgentUnsupportedError rather than a silent no-op.
   */
  async identity(i: IdentityRequest): Promise<IdentityResponse> {
    this.requireHello();
    if (!this.supports("identity")) {
      const hello = this.greeting;
      throw new AgentUnsupportedError(
        "identity",
        "give a restored guest its own identity",
        hello?.version,
        hello?.protocol,
      );
    }
    return this.call<IdentityResponse>("identity", {
      ...(i.hostname ? { hostname: i.hostname } : {}),
      ...(i.entropy ? { entropy: i.entropy.toString("base64") } : {}),
      ...(i.timeMs !== undefined ? { timeMs: i.timeMs } : {}),
    });
  }

  /** Close the connection; requests still running fail with AgentClosedError. */
  close(): Promise<void> {
    return this.connection.close();
  }

  private async call<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    this.requireHello();
    return this.connection.start<T>(op, args, {}, this.requestTimeoutMs).result;
  }

  /** Refuse clearly what an older agent would not understand (it would ignore `pty`). */
  private requireFeatures(options: SpawnOptions): void {
    if (!options.pty || this.supports(FEATURES.EXEC_PTY)) return;
    const hello = this.greeting;
    throw new AgentUnsupportedError(
      FEATURES.EXEC_PTY,
      "run a command on a terminal (pty)",
      hello?.version,
      hello?.protocol,
    );
  }

  private requireHello(): void {
    if (this.connection.closed) throw new AgentClosedError();
    if (!this.greeting) throw new AgentProtocolError("Call hello() before other requests.");
  }
}
