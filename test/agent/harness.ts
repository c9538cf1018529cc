import { afterAll, beforeAll } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { Duplex } from "node:stream";
import os from "node:os";
import path from "node:path";
import {
  AgentClient,
  AgentClosedError,
  type AgentClientOptions,
} from "../../src/agent/client/index.js";
import { FrameType, PROTOCOL_VERSION } from "../../src/agent/protocol/constants.js";
import { FrameDecoder } from "../../src/agent/protocol/decoder.js";
import { encodeJson, type Frame } from "../../src/agent/protocol/frame.js";
import type { ErrorPayload, ProtocolVersion } from "../../src/agent/protocol/messages.js";

const ROOT = path.resolve(import.meta.dirname, "../..");

/** The Go agent built by `node scripts/build-agent.mjs` for this machine. */
export const GO_AGENT = path.join(
  ROOT,
  "dist",
  "guest",
  `plinth-agent-linux-${process.arch === "x64" ? "amd64" : process.arch}`,
);

/** The agent under test is the Go binary (the only agent). */
export const AGENT_KIND = "go" as const;

/** The protocol the agent speaks: the one this client speaks. */
export const AGENT_PROTOCOL: ProtocolVersion = { ...PROTOCOL_VERSION };

/** A real guest agent listening on a Unix socket in a temp dir. */
export interface TestAgent {
  kind: "go" | "ts";
  /** PID of the agent process (this process for the TypeScript agent). */
  pid: number;
  /** Scratch directory for the test's files (removed by stop). */
  dir: string;
  socketPath: string;
  /** The agent's log lines (for the Go agent: its stderr, without the "plinth-agent: " prefix). */
  logs: string[];
  /** Power-off requests the agent made (never a real one in tests). */
  readonly powerOffs: string[];
  /** Requests running in the agent, over all connections. */
  requests(): Promise<number>;
  /** End every connection from the agent's side (their sessions are dropped). */
  dropConnections(): void;
  /** A raw connection, for writing bytes by hand. */
  socket(): Promise<net.Socket>;
  /** A client that has said hello; its notices are collected in `notices`. */
  connect(options?: AgentClientOptions): Promise<Client>;
  stop(): Promise<void>;
}

export type Client = AgentClient & { notices: ErrorPayload[]; socket: net.Socket };

export interface StartOptions {
  /** The version the agent reports. */
  version?: string;
}

function connectSocket(socketPath: string): Promise<net.Socket> {
  return new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect(socketPath, () => resolve(s));
    s.once("error", reject);
  });
}

interface Backend {
  pid: number;
  powerOffs(): string[];
  requests(): Promise<number>;
  dropConnections(): void;
  stop(): Promise<void>;
}

/** The Go binary as a child process; shutdown only records what it would do. */
async function startGoAgent(
  base: string,
  socketPath: string,
  options: StartOptions,
  logs: string[],
): Promise<Backend> {
  if (!existsSync(GO_AGENT)) {
    throw new Error(`${GO_AGENT} is missing: run \`node scripts/build-agent.mjs\``);
  }
  const powerFile = path.join(base, "poweroff");
  const child: ChildProcess = spawn(GO_AGENT, ["--listen-unix", socketPath], {
    env: {
      ...process.env,
      PLINTH_AGENT_TEST_POWEROFF: powerFile,
      ...(options.version ? { PLINTH_AGENT_TEST_VERSION: options.version } : {}),
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let pending = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (chunk: string) => {
    pending += chunk;
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) logs.push(line.replace(/^plinth-agent: /, ""));
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let dead = false;
  void exited.then(() => (dead = true));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (dead) throw new Error(`the agent exited at start: ${logs.join("\n")}`);
    try {
      (await connectSocket(socketPath)).destroy();
      break;
    } catch {
      if (Date.now() > deadline) throw new Error("the agent did not listen in time");
      await sleep(10);
    }
  }
  // A connection of the harness's own, to ask the agent how many requests run.
  let control: AgentClient | undefined;
  const ask = async (): Promise<number> => {
    for (let attempt = 0; ; attempt++) {
      try {
        if (!control) control = await AgentClient.connect(await connectSocket(socketPath));
        const info = await control.info();
        return (info.agent as unknown as { requests: number }).requests;
      } catch (error) {
        await control?.close();
        control = undefined;
        if (!(error instanceof AgentClosedError) || attempt >= 5) throw error;
        await sleep(20);
      }
    }
  };
  return {
    pid: child.pid!,
    powerOffs: () =>
      existsSync(powerFile) ? readFileSync(powerFile, "utf8").split("\n").filter(Boolean) : [],
    requests: ask,
    dropConnections: () => child.kill("SIGHUP"),
    async stop() {
      await control?.close();
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export async function startAgent(options: StartOptions = {}): Promise<TestAgent> {
  const base = mkdtempSync(path.join(os.tmpdir(), "plinth-agent-test-"));
  const socketPath = path.join(base, "agent.sock");
  const dir = path.join(base, "files");
  mkdirSync(dir);
  const logs: string[] = [];
  const backend = await startGoAgent(base, socketPath, options, logs);
  const clients: AgentClient[] = [];
  const socket = () => connectSocket(socketPath);
  return {
    kind: AGENT_KIND,
    pid: backend.pid,
    dir,
    socketPath,
    logs,
    get powerOffs() {
      return backend.powerOffs();
    },
    requests: () => backend.requests(),
    dropConnections: () => backend.dropConnections(),
    socket,
    async connect(clientOptions = {}) {
      const s = await socket();
      const notices: ErrorPayload[] = [];
      const client = new AgentClient(s, {
        ...clientOptions,
        onNotice: (n) => {
          notices.push(n);
          clientOptions.onNotice?.(n);
        },
      }) as Client;
      client.notices = notices;
      client.socket = s;
      clients.push(client);
      await client.hello();
      return client;
    },
    async stop() {
      await Promise.all(clients.map((c) => c.close()));
      await backend.stop();
      rmSync(base, { recursive: true, force: true });
    },
  };
}

/** Wait until `fn` returns true, polling. */
export async function until(fn: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Frames on a raw socket: send bytes by hand and wait for particular replies. */
export function rawFrames(socket: net.Socket) {
  const frames: Frame[] = [];
  let garbage = 0;
  let wake: (() => void) | undefined;
  const decoder = new FrameDecoder({
    frame: (f) => {
      frames.push(f);
      wake?.();
    },
    oversize: () => {},
    garbage: (n) => (garbage += n),
  });
  socket.on("data", (chunk: Buffer) => decoder.push(chunk));
  return {
    frames,
    get garbage() {
      return garbage;
    },
    send(bytes: Buffer | Buffer[]) {
      for (const b of Array.isArray(bytes) ? bytes : [bytes]) socket.write(b);
    },
    request(id: number, body: Record<string, unknown>) {
      socket.write(encodeJson(FrameType.REQUEST, id, body));
    },
    /** The first frame (received or to come) matching `match`; consumed from `frames`. */
    async next(match: (f: Frame) => boolean, timeoutMs = 5000): Promise<Frame> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const i = frames.findIndex(match);
        if (i >= 0) return frames.splice(i, 1)[0]!;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error("no matching frame in time");
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
    },
  };
}

export function json(frame: Frame): Record<string, unknown> {
  return JSON.parse(frame.payload.toString("utf8")) as Record<string, unknown>;
}

/** Two connected in-memory Duplex ends (no backpressure; tests only). */
export function duplexPair(): [Duplex, Duplex] {
  const ends: Duplex[] = [];
  const make = (peer: () => Duplex) =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        peer().push(chunk);
        callback();
      },
      final(callback) {
        peer().push(null);
        callback();
      },
      destroy(error, callback) {
        if (!peer().readableEnded) peer().push(null);
        callback(error);
      },
    });
  ends.push(
    make(() => ends[1]!),
    make(() => ends[0]!),
  );
  return [ends[0]!, ends[1]!];
}

/** The process no longer exists (or is not ours to signal). */
export function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

/**
 * One agent and one connected client for a whole test file; at the end, checks that no
 * request was left running in the agent.
 */
export function useSharedAgent(ready: (t: TestAgent, client: AgentClient) => void): void {
  let t: TestAgent;
  beforeAll(async () => {
    t = await startAgent();
    ready(t, await t.connect());
  });
  afterAll(async () => {
    await until(async () => (await t.requests()) === 0);
    await t.stop();
  });
}
