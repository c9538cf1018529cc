import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AgentClient,
  AgentClosedError,
  AgentProtocolError,
  AgentRemoteError,
  AgentVersionError,
} from "../../src/agent/client/index.js";
import {
  Channel,
  FrameType,
  MAX_FRAME_SIZE,
  PROTOCOL_VERSION,
  INITIAL_WINDOW,
} from "../../src/agent/protocol/constants.js";
import { encodeFrame, encodeHeader, encodeJson } from "../../src/agent/protocol/frame.js";
import {
  AGENT_PROTOCOL,
  type TestAgent,
  duplexPair,
  gone,
  json,
  rawFrames,
  startAgent,
  until,
} from "./harness.js";

/** ID= of /etc/os-release, unquoted. */
function osReleaseId(): string | undefined {
  const m = /^ID=["']?([^"'\n]*)/m.exec(readFileSync("/etc/os-release", "utf8"));
  return m?.[1];
}

let t: TestAgent;
beforeAll(async () => {
  t = await startAgent({ version: "9.9.9-test" });
});
afterAll(async () => {
  // Whatever the tests threw at it, the agent never hit an internal error.
  expect(t.logs.filter((l) => l.startsWith("internal error"))).toEqual([]);
  await t.stop();
});

/** A raw connection that has said hello. */
async function rawSession() {
  const raw = rawFrames(await t.socket());
  raw.request(1, { op: "hello", protocol: PROTOCOL_VERSION, nonce: "n1" });
  const hello = await raw.next((f) => f.id === 1);
  expect(hello.type).toBe(FrameType.RESPONSE);
  return raw;
}

async function ping(raw: Awaited<ReturnType<typeof rawSession>>, id: number) {
  raw.request(id, { op: "ping" });
  const reply = await raw.next((f) => f.id === id);
  expect(reply.type).toBe(FrameType.RESPONSE);
}

describe("hello", () => {
  it("answers with the agent's version, protocol and capabilities", async () => {
    const client = await t.connect();
    const hello = client.agent!;
    expect(hello.agent).toBe("plinth-agent");
    expect(hello.version).toBe("9.9.9-test");
    expect(hello.protocol).toEqual(AGENT_PROTOCOL);
    expect(hello.capabilities).toEqual(
      expect.arrayContaining(["ping", "info", "exec", "file.read", "file.write", "shutdown"]),
    );
    expect(hello.pid).toBe(t.pid);
    expect(hello.maxFrameSize).toBe(MAX_FRAME_SIZE);
    const again = await t.connect();
    expect(again.agent!.session).toBeGreaterThan(hello.session);
  });

  it("refuses another major protocol version with a clear error, then accepts the right one", async () => {
    const client = new AgentClient(await t.socket());
    const error = await client.hello({ protocol: { major: 2, minor: 0 } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AgentVersionError);
    const e = error as AgentVersionError;
    expect(e.code).toBe("AGENT_VERSION_MISMATCH");
    expect(e.agentVersion).toBe("9.9.9-test");
    expect(e.agentProtocol).toEqual(AGENT_PROTOCOL);
    expect(e.message).toContain(
      `agent 9.9.9-test speaks protocol ${AGENT_PROTOCOL.major}.${AGENT_PROTOCOL.minor}, this plinth speaks 2.0`,
    );
    expect(e.hint).toMatch(/Rebuild the image/);
    await expect(client.ping()).rejects.toThrow(AgentProtocolError);
    await client.hello({ protocol: { major: 1, minor: 5 } });
    expect(await client.ping()).toBeGreaterThan(0);
    await client.close();
  });

  it("answers any request before hello with NO_HELLO", async () => {
    const raw = rawFrames(await t.socket());
    raw.request(3, { op: "ping" });
    const reply = await raw.next((f) => f.id === 3);
    expect(reply.type).toBe(FrameType.ERROR);
    expect(json(reply).code).toBe("NO_HELLO");
  });
});

describe("ping and info", () => {
  it("pings", async () => {
    const client = await t.connect();
    const rtt = await client.ping();
    expect(rtt).toBeGreaterThan(0);
    expect(rtt).toBeLessThan(1000);
  });

  it("describes the machine", async () => {
    const client = await t.connect();
    const info = await client.info();
    expect(info.agent).toMatchObject({
      version: "9.9.9-test",
      runtime: expect.stringMatching(/^go1\./) as unknown,
      requests: expect.any(Number) as unknown,
      orphansReaped: 0,
      pid: t.pid,
      pid1: false,
    });
    expect(info.agent.connections).toBeGreaterThanOrEqual(1);
    expect(info.hostname).toBe(os.hostname());
    expect(info.kernel.release).toBe(os.release());
    expect(info.memory.totalBytes).toBe(os.totalmem());
    expect(info.memory.availableBytes).toBeGreaterThan(0);
    expect(info.memory.availableBytes).toBeLessThanOrEqual(info.memory.totalBytes);
    expect(info.uptimeS).toBeGreaterThan(0);
    expect(info.osRelease.ID).toBe(osReleaseId());
    expect(info.osRelease.ID).toMatch(/^[a-z]/);
    expect(info.zombies).toBe(0);
  });
});

describe("malformed input", () => {
  it("answers every kind of bad frame with an error and keeps working", async () => {
    const raw = await rawSession();
    const cases: [Buffer, number, string][] = [
      [encodeFrame(FrameType.REQUEST, 10, Buffer.from("{not json")), 10, "BAD_REQUEST"],
      [encodeFrame(FrameType.REQUEST, 11, Buffer.from("[1,2]")), 11, "BAD_REQUEST"],
      [encodeJson(FrameType.REQUEST, 12, { op: "format-disk" }), 12, "UNKNOWN_OP"],
      [encodeJson(FrameType.REQUEST, 13, { op: "toString" }), 13, "UNKNOWN_OP"],
      [encodeJson(FrameType.REQUEST, 14, { op: "file.stat", path: "relative" }), 14, "BAD_REQUEST"],
      [encodeJson(FrameType.REQUEST, 15, { op: "exec", argv: "ls" }), 15, "BAD_REQUEST"],
      [encodeJson(FrameType.REQUEST, 16, { op: "exec" }), 16, "BAD_REQUEST"],
      [encodeFrame(FrameType.RESPONSE, 17, Buffer.from("{}")), 17, "BAD_FRAME"],
      [encodeFrame(0x7f, 18, Buffer.from("??")), 18, "BAD_FRAME"],
      [encodeFrame(FrameType.CREDIT, 19, Buffer.from([1, 2, 3])), 19, "BAD_FRAME"],
      [encodeFrame(FrameType.CANCEL, 20, Buffer.from("{oops")), 20, "BAD_FRAME"],
      // An error that quotes a huge input still fits in a frame.
      [
        encodeJson(FrameType.REQUEST, 21, { op: "x".repeat(MAX_FRAME_SIZE - 100) }),
        21,
        "UNKNOWN_OP",
      ],
    ];
    for (const [bytes, id, code] of cases) {
      raw.send(bytes);
      const reply = await raw.next((f) => f.id === id);
      expect(reply.type, `reply to ${id}`).toBe(FrameType.ERROR);
      expect(json(reply).code, `code for ${id}`).toBe(code);
      await ping(raw, 100 + id);
    }
    // Stream frames for requests that do not exist are late frames: ignored, no reply.
    raw.send([
      encodeFrame(FrameType.DATA, 555, Buffer.from("x"), Channel.STDIN),
      encodeFrame(FrameType.END, 555, undefined, Channel.STDIN),
      encodeFrame(FrameType.CANCEL, 555),
    ]);
    await ping(raw, 200);
    expect(raw.frames.filter((f) => f.id === 555)).toEqual([]);
  });

  it("refuses to send a request over the frame limit", async () => {
    const client = await t.connect();
    const error = await client
      .exec("true", { env: { BIG: "x".repeat(MAX_FRAME_SIZE) } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AgentProtocolError);
    expect((error as Error).message).toMatch(/too large/);
    expect(await client.ping()).toBeGreaterThan(0);
  });

  it("reports request id 0 and a reused id as session notices", async () => {
    const raw = await rawSession();
    raw.request(0, { op: "ping" });
    expect(json(await raw.next((f) => f.id === 0)).code).toBe("BAD_REQUEST");
    raw.request(7, { op: "exec", argv: ["sleep", "5"] });
    raw.request(7, { op: "ping" });
    const notice = json(await raw.next((f) => f.id === 0));
    expect(notice).toMatchObject({ code: "DUPLICATE_ID", id: 7 });
    raw.send(encodeFrame(FrameType.CANCEL, 7));
    expect(json(await raw.next((f) => f.id === 7))).toMatchObject({ signal: "SIGKILL" });
  });

  it("answers an oversized frame with FRAME_TOO_LARGE, skips it and keeps working", async () => {
    const raw = await rawSession();
    const payload = Buffer.alloc(MAX_FRAME_SIZE + 1, 0x41);
    raw.send([
      encodeHeader({ type: FrameType.REQUEST, channel: 0, id: 77, length: payload.length }),
      payload,
    ]);
    const reply = await raw.next((f) => f.id === 77);
    expect(reply.type).toBe(FrameType.ERROR);
    expect(json(reply).code).toBe("FRAME_TOO_LARGE");
    await ping(raw, 78);
  });

  it("stops a request whose host overruns its credit", async () => {
    const raw = await rawSession();
    raw.request(30, { op: "exec", argv: ["sleep", "5"], stdin: true });
    const chunk = Buffer.alloc(64 * 1024);
    // sleep reads nothing: only the pipe's buffer takes some, the rest is beyond any credit.
    const frames = Math.ceil((INITIAL_WINDOW + 1024 * 1024) / chunk.length);
    for (let i = 0; i < frames; i++)
      raw.send(encodeFrame(FrameType.DATA, 30, chunk, Channel.STDIN));
    const reply = await raw.next((f) => f.id === 30 && f.type === FrameType.ERROR);
    expect(json(reply).code).toBe("FLOW_CONTROL");
    await ping(raw, 31);
  });
});

describe("garbage", () => {
  it("survives random bytes before hello, says how many it skipped, and answers", async () => {
    const socket = await t.socket();
    socket.write(randomBytes(1024 * 1024));
    const notices: unknown[] = [];
    const client = new AgentClient(socket, { onNotice: (n) => notices.push(n) });
    await client.hello();
    expect(await client.ping()).toBeGreaterThan(0);
    await until(() => notices.length > 0);
    expect(notices[0]).toMatchObject({ code: "RESYNC" });
    expect((notices[0] as { skipped: number }).skipped).toBeGreaterThan(900_000);
    await client.close();
  });

  it("keeps answering while garbage arrives between frames", async () => {
    const client = await t.connect();
    const slow = client.exec("sleep 0.3; echo done");
    for (let i = 0; i < 50; i++) {
      client.socket.write(randomBytes(1 + Math.floor(Math.random() * 5000)));
      expect(await client.ping()).toBeGreaterThan(0);
    }
    expect((await slow).stdout).toBe("done\n");
    expect(client.notices.filter((n) => n.code === "RESYNC").length).toBeGreaterThan(0);
  });

  it("survives corrupted frames (bit flips anywhere) and keeps answering", async () => {
    const raw = await rawSession();
    const templates = [
      encodeJson(FrameType.REQUEST, 1000, { op: "ping" }),
      encodeJson(FrameType.REQUEST, 1001, { op: "info" }),
      encodeJson(FrameType.REQUEST, 1002, { op: "file.stat", path: t.dir }),
      encodeJson(FrameType.REQUEST, 1003, { op: "file.list", path: t.dir }),
      encodeFrame(FrameType.DATA, 1004, randomBytes(300), Channel.STDIN),
      encodeFrame(FrameType.CREDIT, 1005, Buffer.from([0, 0, 1, 0]), Channel.STDOUT),
      encodeFrame(FrameType.CANCEL, 1006),
      encodeFrame(FrameType.END, 1007, undefined, Channel.DATA),
    ];
    for (let i = 0; i < 2000; i++) {
      const f = Buffer.from(templates[i % templates.length]!);
      for (let flips = 1 + Math.floor(Math.random() * 3); flips > 0; flips--) {
        const at = Math.floor(Math.random() * f.length);
        f[at] = f[at]! ^ (1 << Math.floor(Math.random() * 8));
      }
      raw.send(f);
    }
    await ping(raw, 5000);
    await ping(raw, 5001);
  });
});

describe("reconnect and session reset", () => {
  async function sleeper(client: AgentClient) {
    const child = client.spawn("echo $$; exec sleep 30");
    const line = await new Promise<string>((resolve) =>
      child.stdout.once("data", (c: Buffer) => resolve(c.toString())),
    );
    return { child, pid: Number(line.trim()) };
  }

  it("drops the old session's processes when the host disconnects, and serves the next", async () => {
    const first = await t.connect();
    const { child, pid } = await sleeper(first);
    expect(gone(pid)).toBe(false);
    first.socket.destroy();
    await expect(child.exited).rejects.toThrow(AgentClosedError);
    await until(() => gone(pid));
    const second = await t.connect();
    expect(second.agent!.session).toBeGreaterThan(first.agent!.session);
    expect((await second.exec(["echo", "again"])).stdout).toBe("again\n");
  });

  it("starts a new session on a second hello over the same connection", async () => {
    const client = await t.connect();
    const { child, pid } = await sleeper(client);
    const before = client.agent!.session;
    await client.hello();
    expect(client.agent!.session).toBeGreaterThan(before);
    await expect(child.exited).rejects.toThrow(/new hello/);
    await until(() => gone(pid));
    expect(await client.ping()).toBeGreaterThan(0);
  });

  it("ignores leftovers of an earlier session and pads past partial frames in both directions", async () => {
    // Stands for a snapshot restore: the channel still holds half a frame each way and a
    // stale reply with the id the new hello will use.
    const [hostEnd, proxyEnd] = duplexPair();
    const socket = await t.socket();
    const partial = (id: number) =>
      encodeFrame(FrameType.DATA, id, Buffer.alloc(5000), Channel.STDOUT).subarray(0, 40);
    socket.write(partial(42));
    proxyEnd.push(
      encodeJson(FrameType.RESPONSE, 1, { nonce: "stale", protocol: PROTOCOL_VERSION }),
    );
    proxyEnd.push(partial(43));
    socket.pipe(proxyEnd);
    proxyEnd.pipe(socket);
    const client = new AgentClient(hostEnd);
    const hello = await client.hello({ retryMs: 200, timeoutMs: 5000 });
    expect(hello.nonce).not.toBe("stale");
    expect(await client.ping()).toBeGreaterThan(0);
    expect((await client.exec(["echo", "clean"])).stdout).toBe("clean\n");
    await client.close();
  });

  it("fails requests with AgentClosedError when the agent side goes away", async () => {
    const client = await t.connect();
    const running = client.exec("sleep 5");
    await new Promise((r) => setTimeout(r, 50));
    t.dropConnections();
    await expect(running).rejects.toThrow(AgentClosedError);
    await expect(client.ping()).rejects.toThrow(AgentClosedError);
  });
});

describe("shutdown", () => {
  it("replies, then powers off through the injected hook", async () => {
    const client = await t.connect();
    await client.shutdown();
    await until(() => t.powerOffs.length === 1);
    await client.shutdown("reboot");
    await until(() => t.powerOffs.length === 2);
    expect(t.powerOffs).toEqual(["poweroff", "reboot"]);
  });

  it("rejects an unknown action", async () => {
    const client = await t.connect();
    const error = await client.shutdown("halt" as "reboot").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AgentRemoteError);
    expect((error as AgentRemoteError).remoteCode).toBe("BAD_REQUEST");
  });
});

describe("client misuse", () => {
  it("needs hello before requests", async () => {
    const client = new AgentClient(net.connect(t.socketPath));
    expect(() => client.spawn("true")).toThrow(AgentProtocolError);
    await expect(client.exec("true")).rejects.toThrow(AgentProtocolError);
    await expect(client.files.stat("/")).rejects.toThrow(AgentProtocolError);
    await client.close();
    await expect(client.ping()).rejects.toThrow(AgentClosedError);
  });
});
