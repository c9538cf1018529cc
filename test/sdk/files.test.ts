import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { AgentClient } from "../../src/agent/client/index.js";
import { NoAgentError, SandboxFiles } from "../../src/sdk/index.js";
import { useSharedAgent, type TestAgent } from "../agent/harness.js";

// The real agent in this process: its "guest" paths are paths on this host.
let t: TestAgent;
let client: AgentClient;
useSharedAgent((agent, c) => {
  t = agent;
  client = c;
});

let n = 0;
const fresh = (base: string) => {
  const dir = path.join(base, `case${++n}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};

describe("SandboxFiles", () => {
  it("upload and download copy trees both ways, keeping modes, and count what they moved", async () => {
    const files = new SandboxFiles(async () => client.files);
    const host = fresh(path.join(os.tmpdir(), `plinth-sdk-files-${process.pid}`));
    const data = randomBytes(300_000);
    mkdirSync(path.join(host, "tree", "sub"), { recursive: true });
    writeFileSync(path.join(host, "tree", "a"), "a\n", { mode: 0o755 });
    writeFileSync(path.join(host, "tree", "sub", "blob"), data, { mode: 0o600 });
    symlinkSync("a", path.join(host, "tree", "link")); // skipped
    const guest = path.join(fresh(t.dir), "tree");

    expect(await files.upload(path.join(host, "tree"), guest)).toEqual({
      files: 2,
      bytes: 2 + data.length,
    });
    expect(statSync(path.join(guest, "a")).mode & 0o777).toBe(0o755);
    expect(readFileSync(path.join(guest, "sub", "blob")).equals(data)).toBe(true);

    const back = path.join(host, "back");
    expect(await files.download(guest, back)).toEqual({ files: 2, bytes: 2 + data.length });
    expect(readFileSync(path.join(back, "a"), "utf8")).toBe("a\n");
    expect(statSync(path.join(back, "sub", "blob")).mode & 0o777).toBe(0o600);
    expect(readFileSync(path.join(back, "sub", "blob")).equals(data)).toBe(true);

    // One file each way, too.
    const one = path.join(host, "one");
    expect(await files.download(path.join(guest, "a"), one)).toEqual({ files: 1, bytes: 2 });
    expect(statSync(one).mode & 0o777).toBe(0o755);
  });

  it("passes the agent's files through, streams included", async () => {
    const files = new SandboxFiles(async () => client.files);
    const dir = fresh(t.dir);
    await files.write(path.join(dir, "f"), "hello", { mode: 0o640 });
    expect(await files.readText(path.join(dir, "f"))).toBe("hello");
    expect(await files.exists(path.join(dir, "f"))).toBe(true);
    expect((await files.stat(path.join(dir, "f"))).mode).toBe(0o640);
    expect((await files.list(dir)).map((e) => e.name)).toEqual(["f"]);
    const chunks: Buffer[] = [];
    for await (const c of files.readStream(path.join(dir, "f"))) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe("hello");
    await files.rename(path.join(dir, "f"), path.join(dir, "g"));
    await files.remove(path.join(dir, "g"));
    expect(await files.exists(path.join(dir, "g"))).toBe(false);
  });

  it("without an agent every method rejects with NoAgentError, readStream as a stream error", async () => {
    const files = new SandboxFiles(() => Promise.reject(new NoAgentError("vm", "img 1.0.0")));
    await expect(files.readText("/etc/hostname")).rejects.toBeInstanceOf(NoAgentError);
    await expect(files.upload("/etc/hostname", "/tmp/x")).rejects.toMatchObject({
      code: "NO_AGENT",
    });
    const stream = files.readStream("/etc/hostname");
    const error = await new Promise((resolve) => stream.on("error", resolve));
    expect(error).toBeInstanceOf(NoAgentError);
  });
});
