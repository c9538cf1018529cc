import { createHash, randomBytes } from "node:crypto";
import {
  chmodSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { CancelledError } from "../../src/errors.js";
import { AgentRemoteError, type AgentClient } from "../../src/agent/client/index.js";
import { until, useSharedAgent, type TestAgent } from "./harness.js";

let t: TestAgent;
let client: AgentClient;
let n = 0;
/** A fresh directory per test. */
let dir: string;
useSharedAgent((agent, c) => {
  t = agent;
  client = c;
});

function fresh(): string {
  dir = path.join(t.dir, `case${++n}`);
  mkdirSync(dir);
  return dir;
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const isRoot = process.getuid?.() === 0;

async function remoteCode(p: Promise<unknown>): Promise<string> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AgentRemoteError);
  return (error as AgentRemoteError).remoteCode;
}

describe("file contents", () => {
  it("writes and reads 10 MiB of random bytes intact", async () => {
    const p = path.join(fresh(), "blob.bin");
    const data = randomBytes(10 * 1024 * 1024);
    expect(await client.files.write(p, data)).toEqual({ size: data.length });
    expect(sha256(readFileSync(p))).toBe(sha256(data));
    const back = await client.files.read(p);
    expect(back.length).toBe(data.length);
    expect(sha256(back)).toBe(sha256(data));
    // Nothing but the file itself is left in the directory.
    expect(readdirSync(dir)).toEqual(["blob.bin"]);
  });

  it("writes from a stream and reads as a stream, and byte ranges", async () => {
    const p = path.join(fresh(), "stream.bin");
    const parts = Array.from({ length: 40 }, () => randomBytes(77_777));
    await client.files.write(p, Readable.from(parts));
    const whole = Buffer.concat(parts);
    const chunks: Buffer[] = [];
    for await (const c of client.files.readStream(p)) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(whole)).toBe(true);
    const range = await client.files.read(p, { offset: 100_000, length: 5 });
    expect(range.equals(whole.subarray(100_000, 100_005))).toBe(true);
    expect((await client.files.read(p, { offset: whole.length - 3 })).length).toBe(3);
    expect(await client.files.readText(p, { length: 0 })).toBe("");
  });

  it("sets the mode exactly and keeps a replaced file's mode", async () => {
    const p = path.join(fresh(), "script.sh");
    await client.files.write(p, "#!/bin/sh\n", { mode: 0o751 });
    expect(statSync(p).mode & 0o7777).toBe(0o751);
    expect((await client.files.stat(p)).mode).toBe(0o751);
    const q = path.join(dir, "secret");
    writeFileSync(q, "old");
    chmodSync(q, 0o600);
    await client.files.write(q, "new");
    expect(statSync(q).mode & 0o7777).toBe(0o600);
    expect(readFileSync(q, "utf8")).toBe("new");
    await client.files.write(path.join(dir, "plain"), "x");
    expect(statSync(path.join(dir, "plain")).mode & 0o7777).toBe(0o644);
  });

  it("sets the owner", async () => {
    const p = path.join(fresh(), "owned");
    if (!isRoot) {
      expect(await remoteCode(client.files.write(p, "x", { owner: "nobody" }))).toBe("EPERM");
      return;
    }
    await client.files.write(p, "x", { owner: "nobody" });
    expect(statSync(p)).toMatchObject({ uid: 65534, gid: 65534 });
    await client.files.write(p, "y", { owner: "1:0" });
    expect(statSync(p)).toMatchObject({ uid: 1, gid: 0 });
    await client.files.write(p, "z", { owner: "nobody:daemon" });
    expect(statSync(p)).toMatchObject({ uid: 65534, gid: 1 });
    // Replacing keeps the owner when none is given.
    await client.files.write(p, "again");
    expect(statSync(p)).toMatchObject({ uid: 65534, gid: 1 });
    expect(await remoteCode(client.files.write(p, "x", { owner: "nobody:nogroup-x" }))).toBe(
      "UNKNOWN_GROUP",
    );
  });

  it("creates parents on request and refuses a directory as target", async () => {
    const p = path.join(fresh(), "a", "b", "c.txt");
    expect(await remoteCode(client.files.write(p, "x"))).toBe("ENOENT");
    await client.files.write(p, "x", { mkdirs: true });
    expect(readFileSync(p, "utf8")).toBe("x");
    expect(await remoteCode(client.files.write(dir, "x"))).toBe("EISDIR");
  });

  it("leaves the old file and no temp file when a write is cancelled", async () => {
    const p = path.join(fresh(), "keep.txt");
    writeFileSync(p, "original");
    const controller = new AbortController();
    let sent = 0;
    const endless = new Readable({
      read() {
        sent += 65536;
        if (sent > 1024 * 1024) controller.abort();
        this.push(Buffer.alloc(65536, 1));
      },
    });
    const error = await client.files
      .write(p, endless, { signal: controller.signal })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CancelledError);
    await client.ping();
    await new Promise((r) => setTimeout(r, 50));
    expect(readFileSync(p, "utf8")).toBe("original");
    expect(readdirSync(dir)).toEqual(["keep.txt"]);
  });

  it("reports read errors with the errno code, also on streams", async () => {
    expect(await remoteCode(client.files.read(path.join(fresh(), "missing")))).toBe("ENOENT");
    expect(await remoteCode(client.files.read(dir))).toBe("EISDIR");
    const stream = client.files.readStream(path.join(dir, "missing"));
    const error = await new Promise((resolve) => stream.on("error", resolve));
    expect((error as AgentRemoteError).remoteCode).toBe("ENOENT");
    expect(await remoteCode(client.files.read("relative/path"))).toBe("BAD_REQUEST");
  });

  it("stops the agent reading when the host destroys a read stream", async () => {
    const p = path.join(fresh(), "big");
    writeFileSync(p, randomBytes(8 * 1024 * 1024));
    const stream = client.files.readStream(p);
    await new Promise((resolve) => stream.once("data", resolve));
    stream.destroy();
    // The agent got the CANCEL and ended the read.
    await until(async () => (await t.requests()) === 0);
    expect(await client.ping()).toBeGreaterThan(0);
    expect((await client.files.read(p)).length).toBe(8 * 1024 * 1024);
  });
});

describe("file metadata", () => {
  it("lists a directory with types, sizes and modes, sorted", async () => {
    fresh();
    writeFileSync(path.join(dir, "b.txt"), "12345");
    chmodSync(path.join(dir, "b.txt"), 0o640);
    mkdirSync(path.join(dir, "a-dir"));
    symlinkSync("b.txt", path.join(dir, "c-link"));
    const entries = await client.files.list(dir);
    expect(entries.map((e) => [e.name, e.type])).toEqual([
      ["a-dir", "dir"],
      ["b.txt", "file"],
      ["c-link", "symlink"],
    ]);
    expect(entries[1]).toMatchObject({ size: 5, mode: 0o640 });
    expect(entries[1]!.mtimeMs).toBeGreaterThan(0);
    expect(await remoteCode(client.files.list(path.join(dir, "b.txt")))).toBe("ENOTDIR");
  });

  it("lists a directory of 3000 entries (more than one frame)", async () => {
    fresh();
    for (let i = 0; i < 3000; i++)
      writeFileSync(path.join(dir, `file-with-a-longish-name-${i}`), "");
    const entries = await client.files.list(dir);
    expect(entries.length).toBe(3000);
    expect(new Set(entries.map((e) => e.name)).size).toBe(3000);
  });

  it("stats files, directories and symlinks", async () => {
    fresh();
    writeFileSync(path.join(dir, "f"), "abc");
    symlinkSync("f", path.join(dir, "l"));
    expect(await client.files.stat(path.join(dir, "f"))).toMatchObject({ type: "file", size: 3 });
    expect(await client.files.stat(dir)).toMatchObject({ type: "dir" });
    expect(await client.files.stat(path.join(dir, "l"))).toMatchObject({ type: "file" });
    expect(await client.files.stat(path.join(dir, "l"), { followSymlinks: false })).toMatchObject({
      type: "symlink",
      target: "f",
    });
    expect(await client.files.exists(path.join(dir, "l"))).toBe(true);
    expect(await client.files.exists(path.join(dir, "nope"))).toBe(false);
    expect(await remoteCode(client.files.stat(path.join(dir, "nope")))).toBe("ENOENT");
  });

  it("makes directories with an exact mode", async () => {
    fresh();
    const deep = path.join(dir, "x", "y", "z");
    await client.files.mkdir(deep, { recursive: true, mode: 0o705 });
    expect(statSync(deep).mode & 0o7777).toBe(0o705);
    await client.files.mkdir(deep, { recursive: true });
    expect(await remoteCode(client.files.mkdir(deep))).toBe("EEXIST");
    expect(await remoteCode(client.files.mkdir(path.join(dir, "q", "r")))).toBe("ENOENT");
  });

  it("removes files, empty directories and, when asked, trees", async () => {
    fresh();
    writeFileSync(path.join(dir, "f"), "");
    mkdirSync(path.join(dir, "empty"));
    mkdirSync(path.join(dir, "tree", "sub"), { recursive: true });
    writeFileSync(path.join(dir, "tree", "sub", "f"), "");
    await client.files.remove(path.join(dir, "f"));
    await client.files.remove(path.join(dir, "empty"));
    expect(await remoteCode(client.files.remove(path.join(dir, "tree")))).toBe("ENOTEMPTY");
    await client.files.remove(path.join(dir, "tree"), { recursive: true });
    expect(readdirSync(dir)).toEqual([]);
    expect(await remoteCode(client.files.remove(path.join(dir, "f")))).toBe("ENOENT");
    await client.files.remove(path.join(dir, "f"), { force: true });
  });

  it("renames", async () => {
    fresh();
    writeFileSync(path.join(dir, "old"), "content");
    await client.files.rename(path.join(dir, "old"), path.join(dir, "new"));
    expect(readdirSync(dir)).toEqual(["new"]);
    expect(readFileSync(path.join(dir, "new"), "utf8")).toBe("content");
    expect(await remoteCode(client.files.rename(path.join(dir, "old"), path.join(dir, "x")))).toBe(
      "ENOENT",
    );
  });
});
