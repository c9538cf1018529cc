import { PassThrough, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type {
  AgentFiles,
  DirEntry,
  FileStat,
  ReadOptions,
  WriteOptions,
} from "../agent/client/index.js";
import { copyIn, copyOut, type CopyResult } from "./copy.js";

/**
 * A sandbox's files, through its agent (connected on first use). Guest paths are
 * absolute; failures reject with AgentRemoteError (`remoteCode`: ENOENT, EACCES, …), and
 * with NoAgentError when the image has no agent.
 */
export class SandboxFiles {
  /** @internal */
  constructor(private readonly agentFiles: () => Promise<AgentFiles>) {}

  async read(path: string, options?: ReadOptions): Promise<Buffer> {
    return (await this.agentFiles()).read(path, options);
  }

  async readText(path: string, options?: ReadOptions): Promise<string> {
    return (await this.agentFiles()).readText(path, options);
  }

  /** A file's bytes as a stream, under flow control; destroying it cancels the transfer. */
  readStream(path: string, options?: ReadOptions): Readable {
    const out = new PassThrough();
    this.agentFiles()
      .then((files) => pipeline(files.readStream(path, options), out))
      .catch((error: Error) => out.destroy(error));
    return out;
  }

  /** Write a file atomically (temp file + rename in the guest); resolves to the bytes written. */
  async write(
    path: string,
    data: string | Uint8Array | Readable,
    options?: WriteOptions,
  ): Promise<{ size: number }> {
    return (await this.agentFiles()).write(path, data, options);
  }

  /** Entries of a directory, sorted by name (not recursive; symlinks not followed). */
  async list(path: string): Promise<DirEntry[]> {
    return (await this.agentFiles()).list(path);
  }

  async stat(path: string, options?: { followSymlinks?: boolean }): Promise<FileStat> {
    return (await this.agentFiles()).stat(path, options);
  }

  async exists(path: string): Promise<boolean> {
    return (await this.agentFiles()).exists(path);
  }

  /** Create a directory; `mode` is applied exactly (not masked by the umask). */
  async mkdir(path: string, options?: { recursive?: boolean; mode?: number }): Promise<void> {
    return (await this.agentFiles()).mkdir(path, options);
  }

  /** Remove a file, symlink or empty directory; `recursive` for trees, `force` ignores a missing path. */
  async remove(path: string, options?: { recursive?: boolean; force?: boolean }): Promise<void> {
    return (await this.agentFiles()).remove(path, options);
  }

  async rename(from: string, to: string): Promise<void> {
    return (await this.agentFiles()).rename(from, to);
  }

  /**
   * Copy a host file or directory tree to `guestPath`, keeping permission bits (what
   * `plinth cp HOST vm:/PATH` does). Symlinks, sockets and devices are skipped.
   */
  async upload(hostPath: string, guestPath: string): Promise<CopyResult> {
    return copyIn(await this.agentFiles(), hostPath, guestPath);
  }

  /**
   * Copy a guest file or directory tree to `hostPath`, keeping permission bits; each file
   * lands atomically (temp name, then rename). What `plinth cp vm:/PATH HOST` does.
   */
  async download(guestPath: string, hostPath: string): Promise<CopyResult> {
    return copyOut(await this.agentFiles(), guestPath, hostPath);
  }
}
