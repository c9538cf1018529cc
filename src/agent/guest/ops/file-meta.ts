import type { Stats } from "node:fs";
import { chmod, lstat, mkdir, opendir, readlink, rename, rm, rmdir, stat } from "node:fs/promises";
import path from "node:path";
import { Channel, LIST_BATCH } from "../../protocol/constants.js";
import type { DirEntry, FileStat, FileType } from "../../protocol/messages.js";
import type { Args } from "../args.js";
import type { Request } from "../request.js";

function fileType(s: Stats): FileType {
  if (s.isFile()) return "file";
  if (s.isDirectory()) return "dir";
  if (s.isSymbolicLink()) return "symlink";
  return "other";
}

/** stat by default follows symlinks; `followSymlinks: false` describes the link itself. */
export async function fileStat(_request: Request, args: Args): Promise<FileStat> {
  const p = args.path("path");
  const follow = args.optBoolean("followSymlinks") ?? true;
  const s = follow ? await stat(p) : await lstat(p);
  return {
    type: fileType(s),
    size: s.size,
    mode: s.mode & 0o7777,
    uid: s.uid,
    gid: s.gid,
    mtimeMs: s.mtimeMs,
    atimeMs: s.atimeMs,
    ctimeMs: s.ctimeMs,
    ...(s.isSymbolicLink() ? { target: await readlink(p) } : {}),
  };
}

/**
 * Directory entries (not recursive; symlinks not followed), streamed as newline-separated
 * JSON on the data channel so a directory of any size fits within the frame limit.
 */
export async function fileList(request: Request, args: Args): Promise<{ count: number }> {
  const dir = args.path("path");
  const output = request.output(Channel.DATA);
  const handle = await opendir(dir);
  let count = 0;
  let batch: string[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const ok = output.write(Buffer.from(batch.join(""), "utf8"));
    batch = [];
    if (!ok) await output.drained();
  };
  for await (const dirent of handle) {
    request.signal.throwIfAborted();
    let s: Stats;
    try {
      s = await lstat(path.join(dir, dirent.name));
    } catch {
      continue; // Removed while listing.
    }
    const entry: DirEntry = {
      name: dirent.name,
      type: fileType(s),
      size: s.size,
      mode: s.mode & 0o7777,
      mtimeMs: s.mtimeMs,
    };
    batch.push(JSON.stringify(entry) + "\n");
    count++;
    if (batch.length >= LIST_BATCH) await flush();
  }
  await flush();
  await output.drained();
  return { count };
}

/** mkdir; `mode` is applied exactly (not masked by the umask) to the directory created. */
export async function fileMkdir(_request: Request, args: Args): Promise<{ created: boolean }> {
  const p = args.path("path");
  const mode = args.optMode("mode");
  const recursive = args.optBoolean("recursive") ?? false;
  const first = await mkdir(p, { recursive, mode });
  const created = recursive ? first !== undefined : true;
  if (created && mode !== undefined) await chmod(p, mode);
  return { created };
}

/** Remove a file, symlink or empty directory; `recursive` for trees, `force` to ignore a missing path. */
export async function fileRemove(_request: Request, args: Args): Promise<{ removed: boolean }> {
  const p = args.path("path");
  const recursive = args.optBoolean("recursive") ?? false;
  const force = args.optBoolean("force") ?? false;
  let s: Stats;
  try {
    s = await lstat(p);
  } catch (error) {
    if (force && (error as NodeJS.ErrnoException).code === "ENOENT") return { removed: false };
    throw error;
  }
  if (s.isDirectory() && !recursive) await rmdir(p);
  else await rm(p, { recursive, force });
  return { removed: true };
}

export async function fileRename(_request: Request, args: Args): Promise<Record<string, never>> {
  await rename(args.path("from"), args.path("to"));
  return {};
}
