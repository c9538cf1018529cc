import { Duplex, type Readable, type Writable } from "node:stream";

/**
 * One Duplex from a readable and a writable (fs streams on a character device, stdio).
 * Unlike Duplex.from, destroying it does not wait for I/O in flight: a read blocked on a
 * virtio port until the host writes must not delay the reconnect. `close` releases the
 * underlying resources and defaults to destroying both streams.
 */
export function joinStreams(
  readable: Readable,
  writable: Writable,
  close: () => void = () => {
    readable.destroy();
    writable.destroy();
  },
): Duplex {
  const io = new Duplex({
    read() {
      readable.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      if (writable.write(chunk)) callback();
      else writable.once("drain", () => callback());
    },
    final(callback) {
      callback();
    },
    destroy(error, callback) {
      try {
        close();
      } finally {
        callback(error);
      }
    },
  });
  readable.on("data", (chunk: Buffer) => {
    if (!io.push(chunk)) readable.pause();
  });
  readable.on("end", () => io.push(null));
  readable.on("error", (error) => io.destroy(error));
  writable.on("error", (error) => io.destroy(error));
  return io;
}
