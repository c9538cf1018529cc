/** The SDK: what library users and the CLI's VM commands use. */
export {
  Sandbox,
  type SandboxImage,
  type SandboxOptions,
  type SandboxStartInfo,
  type StopMethod,
  type StopOptions,
} from "./sandbox.js";
export { SandboxFiles } from "./files.js";
export type { SnapshotOptions, SnapshotResult } from "../snapshot/take.js";
export type { SnapshotManifest } from "../snapshot/manifest.js";
export { exportSnapshot, importSnapshot, type ImportOptions } from "../snapshot/package.js";
export { DEFAULT_PTY_COMMAND, SandboxPty, type PtyOptions } from "./pty.js";
export type { CopyResult } from "./copy.js";
export { NoAgentError } from "../errors.js";
export {
  isSandboxRunning,
  listSandboxes,
  releaseSandboxNetwork,
  removeNetwork,
  removeSandbox,
  sandboxConsoleSocket,
  sandboxInfo,
  sandboxLogPath,
  type SandboxInfo,
} from "./sandboxes.js";
export { listNetworks, netDown, type BridgeOptions, type NetDownReport } from "../net/bridge.js";
export type { NetOptions } from "../vm/machine.js";
export type { ExecOptions, ExecResult, ExecStatus } from "../agent/client/index.js";
