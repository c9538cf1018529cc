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
export type { CopyResult } from "./copy.js";
export { NoAgentError } from "../errors.js";
export {
  isSandboxRunning,
  listSandboxes,
  removeSandbox,
  sandboxConsoleSocket,
  sandboxInfo,
  sandboxLogPath,
  type SandboxInfo,
} from "./sandboxes.js";
export type { ExecOptions, ExecResult } from "../agent/client/index.js";
