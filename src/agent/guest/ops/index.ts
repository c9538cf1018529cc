import type { Args } from "../args.js";
import type { AgentEnv } from "../env.js";
import type { Request } from "../request.js";
import { exec } from "./exec.js";
import { fileList, fileMkdir, fileRemove, fileRename, fileStat } from "./file-meta.js";
import { fileRead } from "./file-read.js";
import { fileWrite } from "./file-write.js";
import { info } from "./info.js";
import { shutdown } from "./shutdown.js";

/** What an operation returns becomes its RESPONSE; what it throws, its ERROR. */
export type Handler = (request: Request, args: Args, env: AgentEnv) => unknown;

/** Every operation but hello (which the session answers itself), by wire name. */
export const handlers: ReadonlyMap<string, Handler> = new Map<string, Handler>([
  ["ping", (_r, _a, env) => ({ uptimeMs: Math.round(performance.now() - env.startedAt) })],
  ["info", info],
  ["exec", exec],
  ["file.read", fileRead],
  ["file.write", fileWrite],
  ["file.list", fileList],
  ["file.stat", fileStat],
  ["file.mkdir", fileMkdir],
  ["file.remove", fileRemove],
  ["file.rename", fileRename],
  ["shutdown", shutdown],
]);
