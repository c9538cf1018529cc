import type { Duplex } from "node:stream";

/**
 * Where connections from the host come from. The agent core only ever sees Duplex byte
 * streams; a transport opens them: the virtio-serial port (reopened after each
 * disconnect), a Unix socket listener, or stdio. vsock will be another one.
 */
export interface Transport {
  readonly name: string;
  /**
   * Connections in order. A transport that has one channel (virtio-serial) yields the
   * next one only after the previous one closed.
   */
  connections(): AsyncIterable<Duplex>;
  close(): void;
}

/** Resolves once `io` is closed (or at once if it already is). */
export function whenClosed(io: Duplex): Promise<void> {
  if (io.destroyed) return Promise.resolve();
  return new Promise((resolve) => io.once("close", () => resolve()));
}
