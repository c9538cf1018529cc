import { Readable } from "node:stream";
import { Worker } from "node:worker_threads";
import { HEADER_SIZE, MAGIC_0, MAGIC_1, MAX_FRAME_SIZE } from "../protocol/constants.js";

interface ReaderConfig {
  /** [0]: the id of a read the main thread gave up on. */
  control: SharedArrayBuffer;
  headerSize: number;
  magic0: number;
  magic1: number;
  maxPayload: number;
}

/**
 * Runs in a worker thread; must not reference anything outside itself (it is sent as
 * source text). Blocking reads of the port, handed to the main thread in batches that end
 * on frame boundaries.
 *
 * Why: a virtio-serial read returns at most one 4 KiB guest buffer. Through fs streams,
 * each read is a libuv thread-pool round trip (~0.8 ms under TCG), capping host→guest
 * bytes at ~5 MiB/s. Here a read is one syscall in a loop; the main thread hears once per
 * batch. A batch is posted as soon as the bytes read end on a frame boundary (the host
 * writes whole frames, so a burst ends on one), or at once when they do not look like
 * frames (padding, garbage: the main decoder resynchronises), so latency is unchanged.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- sent as source text: no imports */
function readerMain(): void {
  const { parentPort, workerData } =
    require("node:worker_threads") as typeof import("node:worker_threads");
  const fs = require("node:fs") as typeof import("node:fs");
  const cfg = workerData as ReaderConfig;
  const control = new Int32Array(cfg.control);
  const cap = 2 * (cfg.headerSize + cfg.maxPayload);
  const buf = Buffer.allocUnsafe(cap);
  // The fd is ours from here on: only this thread closes it, so its number cannot be
  // reused under a read that is still blocked.
  parentPort!.on("message", ({ fd, id }: { fd: number; id: number }) => {
    let fill = 0;
    let at = 0; // start of the first frame not yet complete
    const post = (upto: number) => {
      if (upto <= 0) return;
      const out = new Uint8Array(upto);
      out.set(buf.subarray(0, upto));
      parentPort!.postMessage({ id, chunk: out }, [out.buffer]);
      buf.copyWithin(0, upto, fill);
      fill -= upto;
      at = Math.max(0, at - upto);
    };
    for (;;) {
      let n: number;
      try {
        n = fs.readSync(fd, buf, fill, Math.min(cap - fill, 65536), null);
      } catch (error) {
        post(fill);
        fs.closeSync(fd);
        parentPort!.postMessage({ id, error: (error as Error).message });
        return;
      }
      if (Atomics.load(control, 0) === id) {
        fs.closeSync(fd); // given up on: these bytes belong to no one
        return;
      }
      if (n === 0) {
        post(fill);
        fs.closeSync(fd);
        parentPort!.postMessage({ id, eof: true });
        return;
      }
      fill += n;
      let framed = true;
      for (;;) {
        const left = fill - at;
        if (left >= 1 && buf[at] !== cfg.magic0) framed = false;
        if (left >= 2 && buf[at + 1] !== cfg.magic1) framed = false;
        if (!framed || left < cfg.headerSize) break;
        const len = buf.readUInt32BE(at + 8);
        if (len > cfg.maxPayload) framed = false;
        if (!framed || left < cfg.headerSize + len) break;
        at += cfg.headerSize + len;
      }
      if (!framed) {
        post(fill);
        at = 0;
      } else if (at === fill) post(fill);
      else if (fill === cap) post(at);
    }
  });
}

/* eslint-enable @typescript-eslint/no-require-imports */

/**
 * One worker that reads virtio-serial ports for the agent, one connection (fd) at a
 * time; started once, because starting a worker costs a noticeable part of a second
 * under TCG and the agent reconnects on every host disconnect.
 */
type ReaderMessage = { id: number } & ({ chunk: Uint8Array } | { eof: true } | { error: string });

export class PortReader {
  private readonly worker: Worker;
  private readonly control = new Int32Array(new SharedArrayBuffer(4));
  private current: { id: number; readable: Readable } | undefined;
  private nextId = 1;

  constructor() {
    const cfg: ReaderConfig = {
      control: this.control.buffer as SharedArrayBuffer,
      headerSize: HEADER_SIZE,
      magic0: MAGIC_0,
      magic1: MAGIC_1,
      maxPayload: MAX_FRAME_SIZE,
    };
    this.worker = new Worker(`(${readerMain.toString()})()`, { eval: true, workerData: cfg });
    this.worker.unref();
    this.worker.on("message", (m: ReaderMessage) => {
      if (m.id !== this.current?.id) return;
      const r = this.current.readable;
      if ("chunk" in m) r.push(Buffer.from(m.chunk.buffer, m.chunk.byteOffset, m.chunk.byteLength));
      else {
        this.current = undefined;
        if ("error" in m) r.destroy(new Error(m.error));
        else r.push(null);
      }
    });
  }

  /**
   * The bytes of `fd` until EOF. The reader owns `fd` and closes it; `cancel` gives up on
   * it (its blocked read, if any, is dropped when it returns). One read at a time.
   */
  read(fd: number): { readable: Readable; cancel: () => void } {
    const id = this.nextId++;
    const readable = new Readable({ read() {} });
    this.current = { id, readable };
    this.worker.postMessage({ fd, id });
    const cancel = () => {
      Atomics.store(this.control, 0, id);
      if (this.current?.id === id) this.current = undefined;
    };
    return { readable, cancel };
  }
}
