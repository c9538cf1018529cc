/** plinth as a library. The CLI is a thin layer over these. */
export { Sandbox, type SandboxOptions } from "./sdk/sandbox.js";
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
export { doctor, type DoctorReport } from "./host/doctor.js";
export {
  AgentClient,
  AgentClosedError,
  AgentExecError,
  AgentProtocolError,
  AgentRemoteError,
  AgentTimeoutError,
  AgentVersionError,
  type ExecOptions,
  type ExecResult,
} from "./agent/client/index.js";
export type { PlinthEvent, EventSink } from "./events.js";
export * from "./errors.js";
