import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { createReadStream, mkdtempSync, statSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released for the server). */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

export interface Registry {
  addr: string;
  storage: string;
  stop(): Promise<void>;
}

/**
 * Debian's docker-registry (the CNCF distribution registry) on 127.0.0.1, with its own
 * storage dir; with `auth`, htpasswd basic auth (bcrypt, as the registry requires).
 */
export async function startRegistry(auth?: { user: string; password: string }): Promise<Registry> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "plinth-registry-"));
  const port = await freePort();
  const storage = path.join(dir, "data");
  let authCfg = "";
  if (auth) {
    const line = execFileSync("htpasswd", ["-Bbn", auth.user, auth.password], { encoding: "utf8" });
    writeFileSync(path.join(dir, "htpasswd"), line.trim() + "\n");
    authCfg = `auth:\n  htpasswd:\n    realm: plinth-test\n    path: ${dir}/htpasswd\n`;
  }
  writeFileSync(
    path.join(dir, "config.yml"),
    `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${storage}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${authCfg}`,
  );
  const child = spawn("docker-registry", ["serve", path.join(dir, "config.yml")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr!.on("data", (b: Buffer) => (log += b.toString()));
  const addr = `127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const up = await fetch(`http://${addr}/v2/`).then(
      () => true,
      () => false,
    );
    if (up) break;
    if (i > 100 || child.exitCode !== null)
      throw new Error(`docker-registry did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { addr, storage, stop: () => stopChild(child) };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill("SIGTERM");
  await new Promise((r) => child.once("exit", r));
}

/** A TCP proxy to `target` that sends responses at about `bytesPerSec`: a slow network. */
export async function slowProxy(
  target: string,
  bytesPerSec: number,
): Promise<{ addr: string; close(): void }> {
  const [host, port] = target.split(":") as [string, string];
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((client) => {
    const upstream = net.connect(Number(port), host);
    sockets.add(client).add(upstream);
    client.pipe(upstream);
    upstream.on("data", (chunk: Buffer) => {
      upstream.pause();
      client.write(chunk);
      setTimeout(() => upstream.resume(), (chunk.length / bytesPerSec) * 1000);
    });
    upstream.on("end", () => client.end());
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", close).on("close", close);
    upstream.on("error", close);
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const { port: p } = srv.address() as net.AddressInfo;
  return {
    addr: `127.0.0.1:${p}`,
    close: () => {
      for (const s of sockets) s.destroy();
      srv.close();
    },
  };
}

export interface StaticServer {
  url: string;
  /** Each request: path and Range header. */
  requests: { path: string; range?: string }[];
  close(): void;
}

/**
 * Files of `dir` over HTTP on 127.0.0.1, with `Range` support, as a web server or an
 * object store serves them. `cutOnce` names files whose first GET is cut after half
 * their bytes (the connection dropped), to exercise resumption.
 */
export async function staticServer(
  dir: string,
  o: { cutOnce?: string[] } = {},
): Promise<StaticServer> {
  const requests: StaticServer["requests"] = [];
  const cut = new Set(o.cutOnce ?? []);
  const srv = http.createServer((req, res) => {
    const name = decodeURIComponent(new URL(req.url!, "http://x").pathname).replace(/^\/+/, "");
    requests.push({ path: name, range: req.headers.range });
    const file = path.join(dir, path.basename(name));
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      res.writeHead(404).end();
      return;
    }
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    const start = m ? Number(m[1]) : 0;
    if (start >= size && m) {
      res.writeHead(416, { "Content-Range": `bytes */${size}` }).end();
      return;
    }
    res.writeHead(m ? 206 : 200, {
      "Content-Length": String(size - start),
      "Accept-Ranges": "bytes",
      ...(m ? { "Content-Range": `bytes ${start}-${size - 1}/${size}` } : {}),
    });
    const half = cut.delete(path.basename(name));
    const stream = createReadStream(file, {
      start,
      end: half ? start + Math.floor((size - start) / 2) : undefined,
    });
    stream.pipe(res, { end: !half });
    if (half) stream.on("end", () => res.socket?.destroy());
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const { port } = srv.address() as net.AddressInfo;
  return { url: `http://127.0.0.1:${port}`, requests, close: () => srv.close() };
}
