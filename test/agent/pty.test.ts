import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Duplex } from "node:stream";
import {
  AgentClient,
  AgentProtocolError,
  AgentRemoteError,
  AgentUnsupportedError,
  AgentVersionError,
  type AgentProcess,
} from "../../src/agent/client/index.js";
import { FrameType } from "../../src/agent/protocol/constants.js";
import { FrameDecoder } from "../../src/agent/protocol/decoder.js";
import { encodeFrame, encodeJson } from "../../src/agent/protocol/frame.js";
import { UserError } from "../../src/errors.js";
import {
  AGENT_PROTOCOL,
  duplexPair,
  json,
  rawFrames,
  sleep,
  startAgent,
  type TestAgent,
} from "./harness.js";

// exec with a pty (protocol 1.1): the client's API against the Go agent.

let t: TestAgent;
let client: AgentClient;
beforeAll(async () => {
  t = await startAgent();
  client = await t.connect();
});
afterAll(async () => {
  await t.stop();
});

/** Reads a terminal's output: `until(text)` waits for text and returns what came up to it. */
function terminal(p: AgentProcess) {
  let output = "";
  let wake: (() => void) | undefined;
  p.stdout.setEncoding("utf8");
  p.stdout.on("data", (chunk: string) => {
    output += chunk;
    wake?.();
  });
  return {
    write: (text: string) => p.stdin!.write(text),
    async until(text: string, timeoutMs = 5000): Promise<string> {
      const deadline = Date.now() + timeoutMs;
      while (!output.includes(text)) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no ${JSON.stringify(text)} in ${JSON.stringify(output)}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      // What came after the text is kept for the next wait.
      const end = output.indexOf(text) + text.length;
      const seen = output.slice(0, end);
      output = output.slice(end);
      return seen;
    },
  };
}

describe("a process on a terminal", () => {
  it("announces terminals at hello", () => {
    expect(client.agent!.capabilities).toEqual(expect.arrayContaining(["exec.resize", "exec.pty"]));
    expect(client.supports("exec.pty")).toBe(true);
    expect(AGENT_PROTOCOL).toEqual({ major: 1, minor: 2 });
  });

  it("runs a shell with its window size, follows resizes (SIGWINCH) and echoes input", async () => {
    const p = client.spawn(["/bin/sh"], { pty: { rows: 30, cols: 100 }, clearEnv: true });
    expect(p.tty).toBe(true);
    expect(p.stdin).not.toBeNull();
    const term = terminal(p);
    let stderr = "";
    p.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    term.write("stty size; tty; echo TERM=$TERM\n");
    const first = await term.until("TERM=xterm-256color\r\n");
    expect(first).toContain("30 100\r\n");
    expect(first).toMatch(/\/dev\/pts\/\d+\r\n/);

    // (Quotes in what is typed keep its echo from matching what the shell prints.)
    term.write("trap 'echo WIN''CH' WINCH; echo trap''ped\n");
    await term.until("trapped\r\n");
    await p.resize(40, 120);
    term.write("stty size; echo si''zed\n");
    const resized = await term.until("sized\r\n");
    expect(resized).toContain("40 120\r\n");
    // The shell runs its trap between commands: by now SIGWINCH has been handled.
    expect(resized).toContain("WINCH\r\n");

    // The terminal echoes what was typed (h''i); the shell prints hi.
    term.write("echo h''i\n");
    expect(await term.until("hi\r\n")).toContain("echo h''i\r\n");
    term.write("exit 3\n");
    expect(await p.exited).toMatchObject({ exitCode: 3, signal: null, timedOut: false });
    expect(stderr).toBe("");
    // The exec is over: the agent says so.
    const late = await p.resize(10, 10).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(AgentRemoteError);
    expect((late as AgentRemoteError).remoteCode).toBe("NOT_RUNNING");
  });

  it("runs exec on a terminal: stdin, stdout and stderr are the terminal", async () => {
    const r = await client.exec(
      "tty; test -t 0 && echo in; test -t 1 && echo out; test -t 2 && echo err >&2; stty size",
      { pty: true },
    );
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^\/dev\/pts\/\d+\r\nin\r\nout\r\nerr\r\n24 80\r\n$/);
    expect(r.stderr).toBe("");
  });

  it("passes env, cwd and a TERM of the host's, and reports exit codes", async () => {
    const r = await client.exec('echo "$TERM $X"; pwd; exit 5', {
      pty: { rows: 5, cols: 20 },
      env: { TERM: "vt100", X: "y" },
      cwd: "/tmp",
    });
    expect(r).toMatchObject({ exitCode: 5, stdout: "vt100 y\r\n/tmp\r\n", stderr: "" });
  });

  it("feeds exec's stdin to the terminal, then ends it with ^D; no stdin ends it at once", async () => {
    const fed = await client.exec(["cat"], { pty: true, stdin: "line\n" });
    // The terminal's echo, then cat's copy; the end of input (^D) made cat exit.
    expect(fed).toMatchObject({ exitCode: 0, stdout: "line\r\nline\r\n" });
    const none = await client.exec(["cat"], { pty: true, timeoutMs: 5000 });
    expect(none).toMatchObject({ exitCode: 0, timedOut: false, stdout: "" });
  });

  it("ends a line-mode program at the end of stdin (END → ^D)", async () => {
    const p = client.spawn(["cat"], { pty: {}, stdin: true });
    const term = terminal(p);
    term.write("typed\n");
    expect(await term.until("typed\r\ntyped\r\n")).toBe("typed\r\ntyped\r\n");
    p.stdin!.end();
    expect(await p.exited).toMatchObject({ exitCode: 0, signal: null });
  });

  it("interrupts with Ctrl-C typed (\\x03) and with kill('SIGINT')", async () => {
    const typed = client.spawn(["cat"], { pty: true });
    const term = terminal(typed);
    // cat copies a line once it runs: only then is it the terminal's foreground process.
    term.write("x\n");
    await term.until("x\r\nx\r\n");
    term.write("\x03");
    expect(await typed.exited).toMatchObject({ exitCode: null, signal: "SIGINT" });

    const killed = client.spawn(["/bin/sh", "-c", "echo ready; exec sleep 30"], { pty: true });
    await terminal(killed).until("ready");
    killed.kill("SIGINT");
    expect(await killed.exited).toMatchObject({ exitCode: null, signal: "SIGINT" });
  });

  it("holds output the host does not read within the credit window", async () => {
    // 4 MiB of zero bytes (a terminal passes NULs unchanged) is twice the window.
    const size = 4 * 1024 * 1024;
    const p = client.spawn(["head", "-c", String(size), "/dev/zero"], { pty: true });
    let exited = false;
    void p.exited.then(() => (exited = true));
    await sleep(500);
    expect(exited).toBe(false);
    expect(await client.ping()).toBeLessThan(1000);
    let received = 0;
    p.stdout.on("data", (chunk: Buffer) => (received += chunk.length));
    expect(await p.exited).toMatchObject({ exitCode: 0 });
    expect(received).toBe(size);
  });

  it("refuses bad sizes locally and resizing a process without a terminal", async () => {
    expect(() => client.spawn(["true"], { pty: { rows: 0, cols: 80 } })).toThrow(RangeError);
    expect(() => client.spawn(["true"], { pty: { rows: 24, cols: 70000 } })).toThrow(RangeError);
    const p = client.spawn(["sleep", "5"]);
    expect(p.tty).toBe(false);
    await expect(p.resize(10, 10)).rejects.toThrow(AgentProtocolError);
    const q = client.spawn(["cat"], { pty: true });
    await expect(q.resize(1.5, 10)).rejects.toThrow(RangeError);
    p.kill("SIGKILL");
    q.stdin!.end();
    // (Killed before it started, the agent answers CANCELLED instead: either is fine here.)
    await p.exited.catch(() => undefined);
    expect(await q.exited).toMatchObject({ exitCode: 0 });
  });

  it("has the agent refuse resizes of an exec without a pty (BAD_REQUEST) or not running", async () => {
    // The client refuses these itself; here the agent is asked directly.
    const raw = rawFrames(await t.socket());
    raw.request(1, { op: "hello", protocol: AGENT_PROTOCOL, nonce: "raw" });
    await raw.next((f) => f.id === 1);
    raw.request(5, { op: "exec", argv: ["sleep", "5"] });
    raw.request(6, { op: "exec.resize", id: 5, rows: 10, cols: 10 });
    expect(json(await raw.next((f) => f.id === 6))).toMatchObject({ code: "BAD_REQUEST" });
    raw.request(7, { op: "exec.resize", id: 999, rows: 10, cols: 10 });
    expect(json(await raw.next((f) => f.id === 7))).toMatchObject({ code: "NOT_RUNNING" });
    raw.request(8, { op: "exec.resize", id: 5, rows: 0, cols: 10 });
    expect(json(await raw.next((f) => f.id === 8))).toMatchObject({ code: "BAD_REQUEST" });
    raw.send(encodeFrame(FrameType.CANCEL, 5));
    const end = json(await raw.next((f) => f.id === 5));
    // SIGKILL once it runs; CANCELLED if the CANCEL came first (a loaded machine).
    expect(end.signal === "SIGKILL" || end.code === "CANCELLED").toBe(true);
  });
});

/**
 * A client connected to the Go agent through a proxy that makes it look older (or newer):
 * `hello` and `info` replies are rewritten as an agent of another protocol would send them.
 */
async function olderAgent(
  rewrite: (reply: Record<string, unknown>) => Record<string, unknown>,
): Promise<{ hostEnd: Duplex; close(): void }> {
  const socket = await t.socket();
  const [hostEnd, proxyEnd] = duplexPair();
  proxyEnd.pipe(socket);
  const decoder = new FrameDecoder({
    frame: (f) => {
      if (f.type === FrameType.RESPONSE) {
        proxyEnd.write(encodeJson(f.type, f.id, rewrite(json(f))));
      } else {
        proxyEnd.write(encodeFrame(f.type, f.id, f.payload, f.channel));
      }
    },
    oversize: () => {},
    garbage: () => {},
  });
  socket.on("data", (chunk: Buffer) => decoder.push(chunk));
  return { hostEnd, close: () => socket.destroy() };
}

/** What a 1.0 agent said: no terminals, `agent.node` in info. */
function asProtocol10(reply: Record<string, unknown>): Record<string, unknown> {
  if (Array.isArray(reply.capabilities)) {
    return {
      ...reply,
      version: "0.1.0-old",
      protocol: { major: 1, minor: 0 },
      capabilities: (reply.capabilities as string[]).filter(
        (c) => c !== "exec.pty" && c !== "exec.resize" && c !== "identity",
      ),
    };
  }
  const agent = reply.agent as Record<string, unknown> | undefined;
  if (agent && "runtime" in agent) {
    const old: Record<string, unknown> = {
      ...agent,
      node: "v18.19.0",
      protocol: { major: 1, minor: 0 },
    };
    for (const key of ["runtime", "requests", "connections", "orphansReaped"]) delete old[key];
    return { ...reply, agent: old };
  }
  return reply;
}

describe("an agent of protocol 1.0 (an image built by an older plinth)", () => {
  it("works for everything but terminals, which fail with a clear error", async () => {
    const proxy = await olderAgent(asProtocol10);
    const old = await AgentClient.connect(proxy.hostEnd);
    try {
      expect(old.agent!.protocol).toEqual({ major: 1, minor: 0 });
      expect(old.supports("exec.pty")).toBe(false);
      expect((await old.exec("echo still works")).stdout).toBe("still works\n");
      const info = await old.info();
      expect(info.agent.runtime).toBe("node v18.19.0");
      expect(info.agent.requests).toBeUndefined();

      let error: unknown;
      try {
        old.spawn("bash", { pty: { rows: 24, cols: 80 }, stdin: true });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(AgentUnsupportedError);
      expect(error).toBeInstanceOf(UserError);
      const e = error as AgentUnsupportedError;
      expect(e.code).toBe("AGENT_UNSUPPORTED");
      expect(e.feature).toBe("exec.pty");
      expect(e.message).toBe(
        'The guest agent 0.1.0-old (protocol 1.0) cannot run a command on a terminal (pty): it lacks the "exec.pty" capability.',
      );
      expect(e.hint).toMatch(/Rebuild the image/);
      await expect(old.exec("tty", { pty: true })).rejects.toThrow(AgentUnsupportedError);
      // identity (1.2) is refused before anything is sent, not ignored by the old agent.
      await expect(old.identity({ hostname: "fork-1" })).rejects.toMatchObject({
        code: "AGENT_UNSUPPORTED",
        feature: "identity",
      });
      // Nothing was sent for the refused requests: the session goes on.
      expect(await old.ping()).toBeGreaterThan(0);
    } finally {
      await old.close();
      proxy.close();
    }
  });

  it("refuses an agent of another major version, whatever its capabilities", async () => {
    const proxy = await olderAgent((reply) =>
      Array.isArray(reply.capabilities) ? { ...reply, protocol: { major: 2, minor: 0 } } : reply,
    );
    const client2 = new AgentClient(proxy.hostEnd);
    try {
      const error = await client2.hello({ timeoutMs: 3000 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AgentVersionError);
      expect((error as AgentVersionError).message).toMatch(
        /speaks protocol 2\.0, this plinth speaks 1\.2/,
      );
    } finally {
      await client2.close();
      proxy.close();
    }
  });
});
