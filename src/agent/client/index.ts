export { AgentClient, type AgentClientOptions, type HelloOptions } from "./client.js";
export {
  AgentClosedError,
  AgentExecError,
  AgentProtocolError,
  AgentRemoteError,
  AgentTimeoutError,
  AgentUnsupportedError,
  AgentVersionError,
} from "./errors.js";
export { AgentFiles, type ReadOptions, type WriteOptions } from "./files.js";
export {
  AgentProcess,
  type ExecOptions,
  type ExecResult,
  type ExecStatus,
  type SpawnOptions,
} from "./process.js";
export type {
  AgentInfo,
  DirEntry,
  FileStat,
  FileType,
  HelloResponse,
  PtySize,
} from "../protocol/messages.js";
export { FEATURES } from "../protocol/messages.js";
