import { spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Duplex } from "node:stream";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentClient } from "../../src/agent/client/index.js";
import { parseOptions } from "../../src/agent/guest/options.js";
import {
  DEFAULT_PORT,
  resolvePortPath,
  virtioSerialTransport,
} from "../../src/agent/guest/transport-virtio.js";
import { until } from "./harness.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
/** Node that runs the bundle; point it at a Node 18 to check the guest's runtime. */
const GUEST_NODE = process.env.PLINTH_TEST_GUEST_NODE ?? process.execPath;
const VERSION = (
  JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string }
).version;

let tmp: string;
let bundle: string;
beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), "plinth-agent-transport-"));
  bundle = path.join(tmp, "bundle", "plinth-agent.js");
  await execa("node", [path.join(ROOT, "scripts", "bundle-agent.mjs"), "--outfile", bundle]);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("options", () => {
  it("defaults to the virtio port and takes argv over the environment", () => {
    expect(parseOptions([], {})).toMatchObject({
      options: { transport: { kind: "virtio", path: DEFAULT_PORT }, pid1: "warn" },
    });
    expect(parseOptions([], { PLINTH_AGENT_PORT: "/dev/vport1p1" })).toMatchObject({
      options: { transport: { kind: "virtio", path: "/dev/vport1p1" } },
    });
    expect(parseOptions(["--port", "/x"], { PLINTH_AGENT_LISTEN_UNIX: "/s" })).toMatchObject({
      options: { transport: { kind: "virtio", path: "/x" } },
    });
    expect(parseOptions([], { PLINTH_AGENT_LISTEN_UNIX: "/s" })).toMatchObject({
      options: { transport: { kind: "unix", path: "/s" } },
    });
    expect(parseOptions(["--stdio", "--pid1", "quiet"], {})).toMatchObject({
      options: { transport: { kind: "stdio" }, pid1: "quiet" },
    });
  });

  it("refuses conflicting or unknown options", () => {
    expect(parseOptions(["--stdio", "--port", "/x"], {})).toHaveProperty("error");
    expect(parseOptions(["--bogus"], {})).toHaveProperty("error");
    expect(parseOptions(["--pid1", "maybe"], {})).toHaveProperty("error");
  });
});

describe("virtio-serial transport", () => {
  it("finds a port by name in sysfs when the udev symlink is missing", async () => {
    const sys = path.join(tmp, "sys");
    for (const [entry, name] of [
      ["vport0p1", "org.qemu.guest_agent.0"],
      ["vport0p2", "org.plinth.agent.0"],
    ]) {
      mkdirSync(path.join(sys, "class", "virtio-ports", entry!), { recursive: true });
      writeFileSync(path.join(sys, "class", "virtio-ports", entry!, "name"), `${name}\n`);
    }
    expect(await resolvePortPath(DEFAULT_PORT, sys, "/devx")).toBe("/devx/vport0p2");
    expect(await resolvePortPath("/dev/virtio-ports/other", sys, "/devx")).toBe(
      "/dev/virtio-ports/other",
    );
    expect(await resolvePortPath("/dev/null", sys)).toBe("/dev/null");
  });

  it("reopens the port after each EOF, backing off while nobody is there", async () => {
    // /dev/null reads EOF at once, like a virtio port without a host connected.
    const transport = virtioSerialTransport({ path: "/dev/null", minRetryMs: 5, maxRetryMs: 40 });
    let opened = 0;
    const t0 = performance.now();
    for await (const io of transport.connections()) {
      opened++;
      io.resume();
      io.once("end", () => io.destroy());
      if (performance.now() - t0 > 400) transport.close();
    }
    // Reopened again and again, but with the delay capped at 40 ms, not in a busy loop.
    expect(opened).toBeGreaterThan(5);
    expect(opened).toBeLessThan(60);
  });

  it("keeps retrying a port that does not exist yet, logging once", async () => {
    const logs: string[] = [];
    const transport = virtioSerialTransport({
      path: path.join(tmp, "no-port"),
      minRetryMs: 5,
      maxRetryMs: 10,
      log: (m) => logs.push(m),
    });
    setTimeout(() => transport.close(), 200);
    for await (const io of transport.connections()) io.destroy();
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/cannot open .*no-port.*retrying/);
  });
});

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

describe("bundled agent", () => {
  it("is one file that needs only node: builtins", () => {
    const text = readFileSync(bundle, "utf8");
    expect(text.startsWith("#!/usr/bin/env node\n")).toBe(true);
    const required = [...text.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]!);
    expect(required.length).toBeGreaterThan(0);
    expect(required.filter((m) => !m.startsWith("node:"))).toEqual([]);
    expect(text).toContain(JSON.stringify(VERSION));
  });

  it("serves --stdio and exits when stdin ends", async () => {
    const child = spawn(GUEST_NODE, [bundle, "--stdio", "--quiet"], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    const client = clientOver(child);
    await exercise(client, tmp);
    await client.close();
    expect(await exited).toBe(0);
  });

  it("serves a character device opened read-write with fs streams (a pty in raw mode)", async () => {
    // `script` gives the agent a pty as its terminal; in raw mode it passes bytes as they
    // are, like a virtio port. Our side talks to script's pipes.
    const child = spawn(
      "script",
      [
        "-qfec",
        `stty raw -echo && echo READY && exec ${GUEST_NODE} ${bundle} --port /dev/tty --quiet`,
        "/dev/null",
      ],
      { stdio: ["pipe", "pipe", "inherit"] },
    );
    try {
      // Nothing may reach the terminal before it is raw: wait for the shell's READY.
      let seen = "";
      child.stdout!.on("data", (c: Buffer) => (seen += c.toString("latin1")));
      await until(() => seen.includes("READY"), 10_000);
      child.stdout!.removeAllListeners("data");
      const client = clientOver(child);
      await exercise(client, tmp);
      await client.close();
    } finally {
      child.kill("SIGKILL");
    }
  });
});
