import { lstatSync, unlinkSync } from "node:fs";
import net from "node:net";
import type { Duplex } from "node:stream";
import type { Transport } from "./transport.js";

/**
 * Listen on a Unix socket (development and tests). Every connection is its own session,
 * served concurrently. A stale socket file from an earlier run is replaced.
 */
export function unixListenTransport(socketPath: string): Transport & { listening: Promise<void> } {
  const server = net.createServer();
  const queue: net.Socket[] = [];
  let wake: (() => void) | undefined;
  let closed = false;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  try {
    if (lstatSync(socketPath).isSocket()) unlinkSync(socketPath);
  } catch {
    // Nothing there.
  }
  const listening = new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("connection", (socket) => {
    queue.push(socket);
    notify();
  });
  server.on("error", () => {});
  return {
    name: `unix ${socketPath}`,
    listening,
    async *connections(): AsyncGenerator<Duplex> {
      await listening;
      for (;;) {
        const socket = queue.shift();
        if (socket) yield socket;
        else if (closed) return;
        else await new Promise<void>((resolve) => (wake = resolve));
      }
    },
    close() {
      closed = true;
      server.close();
      for (const socket of queue.splice(0)) socket.destroy();
      notify();
    },
  };
}
