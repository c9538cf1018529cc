import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Duplex } from "node:stream";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentClient } from "../../src/agent/client/index.js";
import { AGENT_PORT, GUEST_CONFIG } from "../../src/contract.js";
import { GO_AGENT, until } from "./harness.js";

// The Go agent binary as the guest runs it: its command line, stdio, and a character
// device opened read-write (what a virtio-serial port is). Its internals are tested in
// Go (agent/**/*_test.go, `node scripts/test-agent.mjs`).
const ROOT = path.resolve(import.meta.dirname, "../..");
const VERSION = (
  JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string }
).version;
const run = existsSync(GO_AGENT) || process.env.CI === "true";

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), "plinth-agent-binary-"));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function clientOver(child: ChildProcess): AgentClient {
  return new AgentClient(Duplex.from({ readable: child.stdout!, writable: child.stdin! }));
}

async function exercise(client: AgentClient, dir: string) {
  const hello = await client.hello();
  expect(hello.version).toBe(VERSION);
  expect(await client.ping()).toBeGreaterThan(0);
  const r = await client.exec("echo out; echo err >&2; exit 4");
  expect(r).toMatchObject({ exitCode: 4, stdout: "out\n", stderr: "err\n" });
  const data = randomBytes(1024 * 1024);
  const file = path.join(dir, "blob");
  await client.files.write(file, data, { mode: 0o600 });
  const back = await client.files.read(file);
  expect(createHash("sha256").update(back).digest("hex")).toBe(
    createHash("sha256").update(data).digest("hex"),
  );
  expect((await client.files.stat(file)).mode).toBe(0o600);
}

describe.skipIf(!run)("Go agent binary (skipped: not built, run scripts/build-agent.mjs)", () => {
  it("is a static executable of the expected size that knows its version", async () => {
    const bytes = readFileSync(GO_AGENT);
    expect(bytes.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
    // No program interpreter: statically linked, depends on nothing in the rootfs.
    expect(bytes.includes(Buffer.from("/lib64/ld-linux"))).toBe(false);
    expect(bytes.length).toBeLessThanOrEqual(6 * 1024 * 1024);
    expect((await execa(GO_AGENT, ["--version"])).stdout).toBe(VERSION);
  });

  it("uses the image contract's port name and paths (written once in TS, once in Go)", async () => {
    const help = (await execa(GO_AGENT, ["--help"], { reject: false })).stderr;
    expect(help).toContain(`/dev/virtio-ports/${AGENT_PORT}`);
    const bytes = readFileSync(GO_AGENT).toString("latin1");
    expect(bytes).toContain(GUEST_CONFIG);
  });

  it("refuses conflicting or unknown options with exit code 2", async () => {
    for (const argv of [
      ["--stdio", "--port", "/x"],
      ["--bogus"],
      ["--pid1", "maybe"],
      ["--vsock", "x"],
    ]) {
      const r = await execa(GO_AGENT, argv, { reject: false });
      expect(r.exitCode, argv.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/^plinth-agent: .*\nUsage:/);
    }
  });

  it("serves --stdio and exits when stdin ends", async () => {
    const child = spawn(GO_AGENT, ["--stdio", "--quiet"], { stdio: ["pipe", "pipe", "inherit"] });
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    const client = clientOver(child);
    await exercise(client, tmp);
    await client.close();
    expect(await exited).toBe(0);
  });

  it("serves a character device opened read-write (a pty in raw mode, like a virtio port)", async () => {
    // `script` gives the agent a pty as its terminal; in raw mode it passes bytes as they
    // are. Our side talks to script's pipes.
    const child = spawn(
      "script",
      [
        "-qfec",
        `stty raw -echo && echo READY && exec ${GO_AGENT} --port /dev/tty --quiet`,
        "/dev/null",
      ],
      { stdio: ["pipe", "pipe", "inherit"] },
    );
    try {
      let seen = "";
      child.stdout!.on("data", (c: Buffer) => (seen += c.toString("latin1")));
      await until(() => seen.includes("READY"), 10_000);
      child.stdout!.removeAllListeners("data");
      const client = clientOver(child);
      await exercise(client, tmp);
      await client.close();
    } finally {
      // The agent is script's child, on a pty of its own: it would outlive script.
      spawnSync("pkill", ["-KILL", "-P", String(child.pid)]);
      child.kill("SIGKILL");
    }
  });

  it("takes the transport from the environment and stops on SIGTERM", async () => {
    const socketPath = path.join(tmp, "env.sock");
    const child = spawn(GO_AGENT, ["--quiet"], {
      env: { ...process.env, PLINTH_AGENT_LISTEN_UNIX: socketPath },
      stdio: "ignore",
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    await until(() => existsSync(socketPath));
    const { connect } = await import("node:net");
    const socket = await new Promise<import("node:net").Socket>((resolve, reject) => {
      const s = connect(socketPath, () => resolve(s));
      s.once("error", reject);
    });
    const client = await AgentClient.connect(socket);
    const sleeper = client.spawn("echo $$; exec sleep 30");
    const pid = await new Promise<number>((resolve) =>
      sleeper.stdout.once("data", (c: Buffer) => resolve(Number(c.toString().trim()))),
    );
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    // Its processes went with it.
    await until(() => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
    await client.close();
  });
});
