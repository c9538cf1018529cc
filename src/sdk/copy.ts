import { createReadStream, createWriteStream } from "node:fs";
import { chmod, lstat, mkdir, readdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import type { AgentFiles } from "../agent/client/index.js";

/** Copy a host file or directory tree into the guest, keeping permission bits. */
export async function copyIn(
  files: AgentFiles,
  hostPath: string,
  guestPath: string,
): Promise<number> {
  const st = await lstat(hostPath);
  if (st.isDirectory()) {
    await files.mkdir(guestPath, { recursive: true, mode: st.mode & 0o7777 });
    let n = 0;
    for (const name of (await readdir(hostPath)).sort()) {
      n += await copyIn(files, path.join(hostPath, name), path.posix.join(guestPath, name));
    }
    return n;
  }
  if (!st.isFile()) return 0; // sockets, devices, symlinks: not copied
  await files.write(guestPath, createReadStream(hostPath), { mode: st.mode & 0o7777 });
  return 1;
}

/** Copy a guest file or directory tree to the host, keeping permission bits. Files land atomically. */
export async function copyOut(
  files: AgentFiles,
  guestPath: string,
  hostPath: string,
): Promise<number> {
  const st = await files.stat(guestPath);
  if (st.type === "dir") {
    await mkdir(hostPath, { recursive: true });
    let n = 0;
    for (const e of await files.list(guestPath)) {
      n += await copyOut(files, path.posix.join(guestPath, e.name), path.join(hostPath, e.name));
    }
    await chmod(hostPath, st.mode & 0o7777);
    return n;
  }
  if (st.type !== "file") return 0;
  const tmp = `${hostPath}.plinth-${process.pid}.tmp`;
  try {
    await pipeline(files.readStream(guestPath), createWriteStream(tmp, { mode: st.mode & 0o7777 }));
    await chmod(tmp, st.mode & 0o7777);
    await rename(tmp, hostPath);
  } finally {
    await rm(tmp, { force: true });
  }
  return 1;
}
