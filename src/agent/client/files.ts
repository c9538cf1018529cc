import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { CancelledError } from "../../errors.js";
import { CreditSender } from "../protocol/credit.js";
import { Channel } from "../protocol/constants.js";
import type { DirEntry, FileStat, FileWriteResponse } from "../protocol/messages.js";
import type { Connection } from "./connection.js";
import { AgentRemoteError } from "./errors.js";
import { IncomingStream } from "./incoming.js";
import { OutgoingStream } from "./outgoing.js";

export interface ReadOptions {
  offset?: number;
  length?: number;
  signal?: AbortSignal;
}

export interface WriteOptions {
  /** Permission bits; default: the replaced file's, else 0o644. */
  mode?: number;
  /** "user", "user:group", "uid:gid" or a uid; default: the replaced file's (as root), else the agent's. */
  owner?: string | number;
  /** Create missing parent directories. */
  mkdirs?: boolean;
  signal?: AbortSignal;
}

/**
 * Files in the guest. Paths must be absolute. Contents move as raw bytes under flow
 * control, so large files neither bloat nor pile up in memory. Failures reject with
 * AgentRemoteError whose `remoteCode` is the errno name (ENOENT, EACCES, …).
 */
export class AgentFiles {
  constructor(
    private readonly connection: Connection,
    private readonly timeoutMs: () => number,
    /** Throws unless the client may send requests (hello done, connection open). */
    private readonly ready: () => void,
  ) {}

  /** A file's bytes as a stream; destroying it cancels the transfer. */
  readStream(path: string, options: ReadOptions = {}): Readable {
    this.ready();
    let cancel = () => {};
    let done = false;
    const stream = new IncomingStream(
      (bytes) => this.connection.writer.credit(started.id, Channel.DATA, bytes),
      () => {
        if (!done) cancel();
      },
    );
    const started = this.connection.start<{ size: number }>(
      "file.read",
      { path, offset: options.offset, length: options.length },
      { onData: (_channel, payload) => stream.deliver(payload) },
    );
    cancel = () => {
      started.cancel();
      started.abandon();
    };
    started.result.then(
      () => {
        done = true;
        stream.finish();
      },
      (error: Error) => {
        done = true;
        stream.destroy(error);
      },
    );
    const { signal } = options;
    if (signal) {
      const onAbort = () => stream.destroy(new CancelledError("file read"));
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
      stream.once("close", () => signal.removeEventListener("abort", onAbort));
    }
    return stream;
  }

  async read(path: string, options: ReadOptions = {}): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of this.readStream(path, options)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async readText(path: string, options: ReadOptions = {}): Promise<string> {
    return (await this.read(path, options)).toString("utf8");
  }

  /** Write a file atomically (temp file + rename in the guest); resolves to the bytes written. */
  async write(
    path: string,
    data: string | Uint8Array | Readable,
    options: WriteOptions = {},
  ): Promise<FileWriteResponse> {
    this.ready();
    options.signal?.throwIfAborted();
    const sender = new CreditSender((chunk) =>
      this.connection.writer.data(started.id, Channel.DATA, chunk),
    );
    const started = this.connection.start<FileWriteResponse>(
      "file.write",
      { path, mode: options.mode, owner: options.owner, mkdirs: options.mkdirs },
      {
        onCredit: (channel, bytes) => {
          if (channel === Channel.DATA) sender.grant(bytes);
        },
      },
    );
    const sink = new OutgoingStream(sender, () =>
      this.connection.writer.end(started.id, Channel.DATA),
    );
    const source = data instanceof Readable ? data : Readable.from([Buffer.from(data)]);
    const onAbort = () => {
      started.cancel();
      sink.destroy(new CancelledError("file write"));
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });
    // An early failure in the guest stops the upload at once.
    started.result.catch((error: Error) => {
      sender.close();
      sink.destroy(error);
    });
    try {
      await pipeline(source, sink);
      return await started.result;
    } catch (error) {
      // The guest's reason beats the pipeline's "premature close".
      throw await started.result.then(
        () => error,
        (remote: unknown) => (options.signal?.aborted ? error : remote),
      );
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
    }
  }

  /** Entries of a directory, sorted by name (not recursive; symlinks not followed). */
  async list(path: string): Promise<DirEntry[]> {
    this.ready();
    let text = "";
    const entries: DirEntry[] = [];
    const started = this.connection.start<{ count: number }>(
      "file.list",
      { path },
      {
        onData: (channel, payload) => {
          // Newline-separated JSON, split across frames anywhere.
          text += payload.toString("utf8");
          const lines = text.split("\n");
          text = lines.pop() ?? "";
          for (const line of lines) if (line) entries.push(JSON.parse(line) as DirEntry);
          this.connection.writer.credit(started.id, channel, payload.length);
        },
      },
    );
    await started.result;
    return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  stat(path: string, options: { followSymlinks?: boolean } = {}): Promise<FileStat> {
    return this.call("file.stat", { path, followSymlinks: options.followSymlinks });
  }

  async exists(path: string): Promise<boolean> {
    try {
      await this.stat(path, { followSymlinks: false });
      return true;
    } catch (error) {
      if (error instanceof AgentRemoteError && error.remoteCode === "ENOENT") return false;
      throw error;
    }
  }

  /** Create a directory; `mode` is applied exactly (not masked by the umask). */
  async mkdir(path: string, options: { recursive?: boolean; mode?: number } = {}): Promise<void> {
    await this.call("file.mkdir", { path, recursive: options.recursive, mode: options.mode });
  }

  /** Remove a file, symlink or empty directory; `recursive` for trees, `force` ignores a missing path. */
  async remove(
    path: string,
    options: { recursive?: boolean; force?: boolean } = {},
  ): Promise<void> {
    await this.call("file.remove", { path, recursive: options.recursive, force: options.force });
  }

  async rename(from: string, to: string): Promise<void> {
    await this.call("file.rename", { from, to });
  }

  private async call<T>(op: string, args: Record<string, unknown>): Promise<T> {
    this.ready();
    return this.connection.start<T>(op, args, {}, this.timeoutMs()).result;
  }
}
