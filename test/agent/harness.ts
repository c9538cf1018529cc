import { afterAll, beforeAll } from "vitest";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { Duplex } from "node:stream";
import os from "node:os";
import path from "node:path";
import { AgentClient, type AgentClientOptions } from "../../src/agent/client/index.js";
import { FrameType } from "../../src/agent/protocol/constants.js";
import { FrameDecoder } from "../../src/agent/protocol/decoder.js";
import { encodeJson, type Frame } from "../../src/agent/protocol/frame.js";
import type { ErrorPayload } from "../../src/agent/protocol/messages.js";
import { Agent, type AgentOptions } from "../../src/agent/guest/agent.js";
import { unixListenTransport } from "../../src/agent/guest/transport-unix.js";

/** The real guest agent, in this process, listening on a Unix socket in a temp dir. */
export interface TestAgent {
  agent: Agent;
  /** Scratch directory for the test's files (removed by stop). */
  dir: string;
  socketPath: string;
  logs: string[];
  /** Power-off requests the agent made (never a real one in tests). */
  powerOffs: string[];
  /** A raw connection, for writing bytes by hand. */
  socket(): Promise<net.Socket>;
  /** A client that has said hello; its notices are collected in `notices`. */
  connect(options?: AgentClientOptions): Promise<Client>;
  stop(): Promise<void>;
}

export type Client = AgentClient & { notices: ErrorPayload[]; socket: net.Socket };

export async function startAgent(options: AgentOptions = {}): Promise<TestAgent> {
  const base = mkdtempSync(path.join(os.tmpdir(), "plinth-agent-test-"));
  const socketPath = path.join(base, "agent.sock");
  const dir = path.join(base, "files");
  mkdirSync(dir);
  const logs: string[] = [];
  const powerOffs: string[] = [];
  const agent = new Agent({
    log: (m) => logs.push(m),
    powerOff: (action) => void powerOffs.push(action),
    ...options,
  });
  const transport = unixListenTransport(socketPath);
  await transport.listening;
  const serving = agent.serve(transport);
  const clients: AgentClient[] = [];
  const socket = () =>
    new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(socketPath, () => resolve(s));
      s.once("error", reject);
    });
  return {
    agent,
    dir,
    socketPath,
    logs,
    powerOffs,
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
      transport.close();
      agent.close();
      await serving;
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
    await until(() => t.agent.requests === 0);
    await t.stop();
  });
}
