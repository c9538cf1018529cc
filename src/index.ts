/** plinth as a library. The CLI is a thin layer over these. */
export {
  Sandbox,
  SandboxFiles,
  SandboxPty,
  NoAgentError,
  listSandboxes,
  sandboxInfo,
  isSandboxRunning,
  removeSandbox,
  sandboxLogPath,
  sandboxConsoleSocket,
  type SandboxOptions,
  type SandboxStartInfo,
  type SandboxImage,
  type SandboxInfo,
  type PtyOptions,
  type StopMethod,
  type StopOptions,
  type CopyResult,
  exportSnapshot,
  importSnapshot,
  type ImportOptions,
  type SnapshotManifest,
  type SnapshotOptions,
  type SnapshotResult,
  listNetworks,
  removeNetwork,
  type BridgeOptions,
  type NetDownReport,
  type NetOptions,
} from "./sdk/index.js";
export {
  buildImage,
  ensureImage,
  resolveImage,
  type BuildOptions,
  type BuildResult,
} from "./builder/build.js";
export { planBuild, type Plan, type BootstrapPlan } from "./builder/plan.js";
export { mmdebstrapArgv } from "./builder/bootstrap/mmdebstrap.js";
export { loadSpec, type LoadOptions, type LoadResult } from "./spec/load.js";
export { SpecSchema, type Spec } from "./spec/schema.js";
export { specJsonSchema } from "./spec/json-schema.js";
export { readMetadata, verifyImage, type ImageMetadata, type Artifact } from "./image/metadata.js";
export { imageVersion, parseImageVersion } from "./image/version.js";
export { Machine, type StartOptions } from "./vm/machine.js";
export { listVms, type VmConfig } from "./vm/state.js";
export { probeKvm, chooseAccel, type Accel, type KvmProbe } from "./vm/accel.js";
export { doctor, type DoctorReport } from "./doctor/doctor.js";
export {
  AgentClient,
  AgentClosedError,
  AgentExecError,
  AgentProtocolError,
  AgentRemoteError,
  AgentTimeoutError,
  AgentUnsupportedError,
  AgentVersionError,
  type AgentInfo,
  type DirEntry,
  type ExecOptions,
  type ExecResult,
  type ExecStatus,
  type FileStat,
  type PtySize,
  type ReadOptions,
  type WriteOptions,
} from "./agent/client/index.js";
export type { PlinthEvent, EventSink, PackageCounts } from "./events.js";
export * from "./errors.js";
