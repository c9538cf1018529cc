import { createReadStream, createWriteStream } from "node:fs";
import { chmod, lstat, mkdir, readdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import type { AgentFiles } from "../agent/client/index.js";

/** What a copy moved: regular files and their bytes (directories are made, not counted). */
export interface CopyResult {
  files: number;
  bytes: number;
}

const add = (a: CopyResult, b: CopyResult): CopyResult => ({
  files: a.files + b.files,
  bytes: a.bytes + b.bytes,
});
const NOTHING: CopyResult = { files: 0, bytes: 0 };

/** Copy a host file or directory tree into the guest, keeping permission bits. */
export async function copyIn(
  files: AgentFiles,
  hostPath: string,
  guestPath: string,
): Promise<CopyResult> {
  const st = await lstat(hostPath);
  if (st.isDirectory()) {
    await files.mkdir(guestPath, { recursive: true, mode: st.mode & 0o7777 });
    let n = NOTHING;
    for (const name of (await readdir(hostPath)).sort()) {
      n = add(n, await copyIn(files, path.join(hostPath, name), path.posix.join(guestPath, name)));
    }
    return n;
  }
  if (!st.isFile()) return NOTHING; // sockets, devices, symlinks: not copied
  const r = await files.write(guestPath, createReadStream(hostPath), { mode: st.mode & 0o7777 });
  return { files: 1, bytes: r.size };
}

/** Copy a guest file or directory tree to the host, keeping permission bits. Files land atomically. */
export async function copyOut(
  files: AgentFiles,
  guestPath: string,
  hostPath: string,
): Promise<CopyResult> {
  const st = await files.stat(guestPath);
  if (st.type === "dir") {
    await mkdir(hostPath, { recursive: true });
    let n = NOTHING;
    for (const e of await files.list(guestPath)) {
      n = add(
        n,
        await copyOut(files, path.posix.join(guestPath, e.name), path.join(hostPath, e.name)),
      );
    }
    await chmod(hostPath, st.mode & 0o7777);
    return n;
  }
  if (st.type !== "file") return NOTHING;
  const tmp = `${hostPath}.plinth-${process.pid}.tmp`;
  try {
    await pipeline(files.readStream(guestPath), createWriteStream(tmp, { mode: st.mode & 0o7777 }));
    await chmod(tmp, st.mode & 0o7777);
    await rename(tmp, hostPath);
  } finally {
    await rm(tmp, { force: true });
  }
  return { files: 1, bytes: st.size };
}
