import { randomBytes } from "node:crypto";
import type { Stats } from "node:fs";
import { mkdir, open, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { Channel } from "../../protocol/constants.js";
import type { FileWriteResponse } from "../../protocol/messages.js";
import type { Args } from "../args.js";
import type { AgentEnv } from "../env.js";
import { OpError } from "../errors.js";
import type { Request } from "../request.js";
import { resolveOwner } from "../users.js";

/**
 * Receive a file as DATA frames up to END and put it in place atomically: the bytes go
 * to a temp file beside the target, which gets its mode and owner, is fsynced and then
 * renamed over the target. A failure, a CANCEL or the end of the session removes the
 * temp file, so the target is either the old file or the whole new one. Replacing a
 * file keeps its mode (and, as root, its owner) unless the request sets them.
 */
export async function fileWrite(
  request: Request,
  args: Args,
  env: AgentEnv,
): Promise<FileWriteResponse> {
  const target = args.path("path");
  const mode = args.optMode("mode");
  const owner = args.optId("owner");
  const mkdirs = args.optBoolean("mkdirs") ?? false;
  // Claim the input now: the host streams within its credit without waiting for us.
  const input = request.input(Channel.DATA);

  const dir = path.dirname(target);
  if (mkdirs) await mkdir(dir, { recursive: true });
  const existing = await statOrUndefined(target);
  if (existing?.isDirectory()) {
    throw new OpError("EISDIR", `${target} is a directory`, { path: target });
  }
  const ids =
    owner !== undefined
      ? await resolveOwner(owner, env.passwdFile, env.groupFile)
      : existing && process.getuid?.() === 0
        ? { uid: existing.uid, gid: existing.gid }
        : undefined;
  request.signal.throwIfAborted();

  const temp = path.join(dir, `.${path.basename(target)}.plinth-${randomBytes(6).toString("hex")}`);
  const file = await open(temp, "wx", 0o600);
  let open_ = true;
  let placed = false;
  try {
    let size = 0;
    for await (const chunk of input) {
      for (let at = 0; at < chunk.length;) {
        at += (await file.write(chunk, at, chunk.length - at)).bytesWritten;
      }
      size += chunk.length;
    }
    // The input also ends when the request is cancelled or dropped.
    request.signal.throwIfAborted();
    // chown clears setuid/setgid bits, so it goes before chmod.
    if (ids) await file.chown(ids.uid, ids.gid);
    await file.chmod(mode ?? (existing ? existing.mode & 0o7777 : 0o644));
    await file.sync();
    await file.close();
    open_ = false;
    await rename(temp, target);
    placed = true;
    return { size };
  } finally {
    if (open_) await file.close().catch(() => {});
    if (!placed) await rm(temp, { force: true }).catch(() => {});
  }
}

async function statOrUndefined(file: string): Promise<Stats | undefined> {
  try {
    return await stat(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}
