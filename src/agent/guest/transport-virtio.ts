import { closeSync, createWriteStream, open } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import type { Duplex } from "node:stream";
import { AGENT_PORT } from "../../contract.js";
import { joinStreams } from "./join-streams.js";
import { PortReadable } from "./port-readable.js";
import { whenClosed, type Transport } from "./transport.js";

export const DEFAULT_PORT = `/dev/virtio-ports/${AGENT_PORT}`;

export interface VirtioSerialOptions {
  path: string;
  /** Where to look up ports by name when the udev symlink is missing; default /sys. */
  sysfsRoot?: string;
  devRoot?: string;
  /** Reopen delay after a short-lived connection, doubling up to maxRetryMs. */
  minRetryMs?: number;
  maxRetryMs?: number;
  log?: (message: string) => void;
}

/**
 * /dev/virtio-ports/<name> is a udev symlink; images without udev (init: minimal) only
 * have /dev/vportNpM, so the port is found by its name in sysfs then.
 */
export async function resolvePortPath(
  port: string,
  sysfsRoot = "/sys",
  devRoot = "/dev",
): Promise<string> {
  try {
    await stat(port);
    return port;
  } catch {
    // Not there: look the name up.
  }
  const name = path.basename(port);
  const classDir = path.join(sysfsRoot, "class", "virtio-ports");
  let entries: string[];
  try {
    entries = await readdir(classDir);
  } catch {
    return port;
  }
  for (const entry of entries) {
    try {
      if ((await readFile(path.join(classDir, entry, "name"), "utf8")).trim() === name) {
        return path.join(devRoot, entry);
      }
    } catch {
      // A port without a name.
    }
  }
  return port;
}

function openFd(file: string): Promise<number> {
  return new Promise((resolve, reject) =>
    open(file, "r+", (error, fd) => (error ? reject(error) : resolve(fd))),
  );
}

/** A Duplex over one read-write fd of a virtio-serial port. */
export function fdDuplex(fd: number, file: string): Duplex {
  const readable = new PortReadable(fd);
  const writable = createWriteStream(file, { fd, autoClose: false });
  let closed = false;
  return joinStreams(readable, writable, () => {
    readable.destroy();
    writable.destroy();
    if (closed) return;
    closed = true;
    // Synchronously: the threadpool may be busy with a read blocked on this very fd.
    try {
      closeSync(fd);
    } catch {
      // Already closed.
    }
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The QEMU transport: a virtio-serial port opened read-write with fs streams (net.Socket
 * cannot wrap a character device). A read returns EOF while no host is connected, so
 * each EOF ends the connection and the port is reopened, with a short growing delay
 * while connections keep ending at once (no host there yet). EBUSY on reopen means an
 * old write still blocks until a host connects; the retry handles it.
 */
export function virtioSerialTransport(options: VirtioSerialOptions): Transport {
  const minRetryMs = options.minRetryMs ?? 10;
  const maxRetryMs = options.maxRetryMs ?? 100;
  const log = options.log ?? (() => {});
  let closed = false;
  let current: Duplex | undefined;
  return {
    name: `virtio-serial ${options.path}`,
    async *connections() {
      let delay = minRetryMs;
      let lastError = "";
      while (!closed) {
        let io: Duplex;
        try {
          const file = await resolvePortPath(options.path, options.sysfsRoot, options.devRoot);
          io = fdDuplex(await openFd(file), file);
          lastError = "";
        } catch (error) {
          const message = (error as Error).message;
          if (message !== lastError) log(`cannot open ${options.path}: ${message}; retrying`);
          lastError = message;
          await sleep(delay);
          delay = Math.min(delay * 2, maxRetryMs);
          continue;
        }
        const opened = performance.now();
        current = io;
        yield io;
        await whenClosed(io);
        current = undefined;
        if (performance.now() - opened < 1000) {
          await sleep(delay);
          delay = Math.min(delay * 2, maxRetryMs);
        } else {
          delay = minRetryMs;
        }
      }
    },
    close() {
      closed = true;
      current?.destroy();
    },
  };
}
