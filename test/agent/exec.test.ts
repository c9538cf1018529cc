import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { CancelledError } from "../../src/errors.js";
import {
  AgentExecError,
  AgentRemoteError,
  type AgentClient,
} from "../../src/agent/client/index.js";
import { INITIAL_WINDOW } from "../../src/agent/protocol/constants.js";
import { gone, sleep, until, useSharedAgent, type TestAgent } from "./harness.js";

let t: TestAgent;
let client: AgentClient;
useSharedAgent((agent, c) => {
  t = agent;
  client = c;
});

const isRoot = process.getuid?.() === 0;

/** utime + stime of a process, in clock ticks. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

describe("exec", () => {
  it("runs a shell line, an argv and a program with args", async () => {
    const shell = await client.exec("echo out; echo err >&2; exit 7");
    expect(shell).toMatchObject({ exitCode: 7, signal: null, timedOut: false });
    expect(shell.stdout).toBe("out\n");
    expect(shell.stderr).toBe("err\n");
    expect(shell.pid).toBeGreaterThan(0);
    const argv = await client.exec(["printf", "%s|", "a b", "$HOME", "*"]);
    expect(argv.stdout).toBe("a b|$HOME|*|");
    const args = await client.exec("printf", { args: ["%s-%s", "x", "y"] });
    expect(args.stdout).toBe("x-y");
    const bash = await client.exec("echo $0", { shell: "/bin/bash" });
    expect(bash.stdout).toBe("/bin/bash\n");
  });

  it("streams output as it is produced", async () => {
    const seen: number[] = [];
    const t0 = performance.now();
    const r = await client.exec("echo one; sleep 0.4; echo two", {
      onStdout: () => seen.push(performance.now() - t0),
    });
    expect(r.stdout).toBe("one\ntwo\n");
    expect(seen.length).toBe(2);
    // The first line arrived long before the process ended.
    expect(seen[1]! - seen[0]!).toBeGreaterThan(300);
  });

  it("streams a Readable and a writable stdin", async () => {
    expect((await client.exec(["cat"], { stdin: "typed" })).stdout).toBe("typed");
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const sum = await client.exec(["sha256sum"], {
      stdin: Readable.from(
        (function* () {
          for (let at = 0; at < data.length; at += 100_000) yield data.subarray(at, at + 100_000);
        })(),
      ),
    });
    expect(sum.stdout.split(" ")[0]).toBe(createHash("sha256").update(data).digest("hex"));

    const child = client.spawn(["cat"], { stdin: true });
    const lines: string[] = [];
    child.stdout.on("data", (c: Buffer) => lines.push(c.toString()));
    child.stdin!.write("ping\n");
    await until(() => lines.join("") === "ping\n");
    child.stdin!.write("pong\n");
    child.stdin!.end();
    expect(await child.exited).toMatchObject({ exitCode: 0 });
    expect(lines.join("")).toBe("ping\npong\n");
  });

  it("returns binary output as Buffers on request", async () => {
    const r = await client.exec(["printf", "\\000\\377\\001"], { encoding: "buffer" });
    expect(r.stdout).toEqual(Buffer.from([0, 255, 1]));
  });

  it("moves large output intact", async () => {
    const r = await client.exec("head -c 20000000 /dev/zero | tr '\\0' 'x'", {
      encoding: "buffer",
    });
    expect(r.stdout.length).toBe(20_000_000);
    expect(r.stdout.every((b) => b === 0x78)).toBe(true);
  });

  it("reports signals, and rejects only when asked to", async () => {
    const killed = await client.exec("kill -TERM $$");
    expect(killed).toMatchObject({ exitCode: null, signal: "SIGTERM" });
    const error = await client
      .exec("echo bad >&2; exit 3", { reject: true })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AgentExecError);
    expect((error as AgentExecError).exitCode).toBe(3);
    expect((error as AgentExecError).hint).toMatch(/bad/);
  });

  it("kills the whole process group at the timeout", async () => {
    const t0 = performance.now();
    const r = await client.exec("sleep 30 & sleep 30", { timeoutMs: 300 });
    expect(r).toMatchObject({ timedOut: true, signal: "SIGKILL", exitCode: null });
    expect(performance.now() - t0).toBeLessThan(3000);
  });

  it("delivers a kill from the host", async () => {
    const child = client.spawn("echo $$; exec sleep 30");
    child.stdout.resume();
    await sleep(100);
    child.kill("SIGINT");
    expect(await child.exited).toMatchObject({ signal: "SIGINT", timedOut: false });
  });

  it("kills on abort and rejects with CancelledError", async () => {
    const controller = new AbortController();
    let pid = 0;
    const running = client.exec("echo $$; exec sleep 30", {
      signal: controller.signal,
      onStdout: (c) => (pid = Number(c.toString().trim())),
    });
    await until(() => pid > 0);
    controller.abort();
    await expect(running).rejects.toThrow(CancelledError);
    await until(() => gone(pid));
    // An already aborted signal never starts anything.
    await expect(client.exec("true", { signal: controller.signal })).rejects.toThrow();
  });

  it("sets env and cwd, or a clear environment", async () => {
    const r = await client.exec('echo "$FOO" && pwd', { env: { FOO: "bar baz" }, cwd: t.dir });
    expect(r.stdout).toBe(`bar baz\n${t.dir}\n`);
    const clear = await client.exec(["/usr/bin/env"], { clearEnv: true, env: { ONLY: "1" } });
    expect(clear.stdout).toBe("ONLY=1\n");
    const inherited = await client.exec("echo $PATH");
    expect(inherited.stdout.trim()).not.toBe("");
  });

  it("runs as another user", async () => {
    if (isRoot) {
      const r = await client.exec("id -u; id -g; echo $HOME $USER", { user: "nobody" });
      expect(r.stdout).toBe("65534\n65534\n/nonexistent nobody\n");
      expect((await client.exec(["id", "-u"], { user: 1 })).stdout).toBe("1\n");
      expect((await client.exec(["id", "-u"], { user: 4242 })).stdout).toBe("4242\n");
    } else {
      const e = await client.exec(["id"], { user: "nobody" }).catch((x: unknown) => x);
      expect((e as AgentRemoteError).remoteCode).toBe("EPERM");
    }
    const unknown = await client.exec(["id"], { user: "no-such-user" }).catch((x: unknown) => x);
    expect(unknown).toBeInstanceOf(AgentRemoteError);
    expect((unknown as AgentRemoteError).remoteCode).toBe("UNKNOWN_USER");
  });

  it("reports a missing program or cwd as ENOENT", async () => {
    const missing = await client.exec(["/no/such/program"]).catch((e: unknown) => e);
    expect((missing as AgentRemoteError).remoteCode).toBe("ENOENT");
    const cwd = await client.exec("true", { cwd: "/no/such/dir" }).catch((e: unknown) => e);
    expect((cwd as AgentRemoteError).remoteCode).toBe("ENOENT");
    expect((cwd as AgentRemoteError).message).toMatch(/cwd/);
  });

  it("runs 20 commands concurrently with the right outputs", async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        client.exec(`sleep 0.$((${i} % 3)); echo out${i}; echo err${i} >&2; exit ${i}`),
      ),
    );
    results.forEach((r, i) => {
      expect(r.stdout).toBe(`out${i}\n`);
      expect(r.stderr).toBe(`err${i}\n`);
      expect(r.exitCode).toBe(i);
    });
  });
});

describe("backpressure", () => {
  it("makes the host wait while the process does not read its stdin", async () => {
    const child = client.spawn("sleep 0.5; exec wc -c", { stdin: true });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    let accepted = 0;
    const total = 8 * INITIAL_WINDOW;
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const writing = (async () => {
      for (let sent = 0; sent < total; sent += chunk.length) {
        await new Promise<void>((resolve) => child.stdin!.write(chunk, () => resolve()));
        accepted += chunk.length;
      }
      child.stdin!.end();
    })();
    await sleep(300);
    // Only about a window (plus what the pipe holds) got through while nobody read.
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThan(INITIAL_WINDOW + 1024 * 1024);
    await writing;
    expect(await child.exited).toMatchObject({ exitCode: 0 });
    expect(out.trim()).toBe(String(total));
  });

  it("holds a runaway process without blocking other requests", async () => {
    const runaway = client.spawn("echo $$ >&2; exec yes");
    const pid = await new Promise<number>((resolve) =>
      runaway.stderr.once("data", (c: Buffer) => resolve(Number(c.toString().trim()))),
    );
    // Nobody reads stdout: after a moment `yes` must be blocked in write(2), not spinning,
    // and the host holds no more than one window of its output.
    await sleep(300);
    const ticks = cpuTicks(pid);
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) await client.ping();
    const other = await client.exec(["echo", "still here"]);
    const busy = await Promise.all(Array.from({ length: 5 }, () => client.exec("echo hi")));
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(other.stdout).toBe("still here\n");
    expect(busy.every((r) => r.stdout === "hi\n")).toBe(true);
    await sleep(200);
    expect(cpuTicks(pid) - ticks).toBeLessThanOrEqual(1);
    expect(runaway.stdout.readableLength).toBeLessThanOrEqual(INITIAL_WINDOW + 64 * 1024);
    const state = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]![0];
    expect(state).toBe("S");

    // Reading again lets it go on; killing it ends it once its last output is read.
    let more = 0;
    runaway.stdout.on("data", (c: Buffer) => (more += c.length));
    await until(() => more > 4 * INITIAL_WINDOW);
    runaway.kill("SIGKILL");
    expect(await runaway.exited).toMatchObject({ signal: "SIGKILL" });
  });
});
