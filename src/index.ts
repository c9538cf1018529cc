/** plinth as a library. The CLI is a thin layer over these. */
export { buildImage, ensureImage, type BuildOptions, type BuildResult } from "./build/build.js";
export { planBuild, type Plan, type BootstrapPlan } from "./build/plan.js";
export { mmdebstrapArgv } from "./build/bootstrap/mmdebstrap.js";
export { loadSpec, type LoadOptions, type LoadResult } from "./spec/load.js";
export { SpecSchema, type Spec } from "./spec/schema.js";
export { specJsonSchema } from "./spec/json-schema.js";
export { readMetadata, verifyImage, type ImageMetadata, type Artifact } from "./image/metadata.js";
export { imageVersion, parseImageVersion } from "./image/version.js";
export { bootToReady, type BootOptions, type BootResult } from "./vm/boot.js";
export { probeKvm, chooseAccel, type Accel, type KvmProbe } from "./vm/accel.js";
export { doctor, type DoctorReport } from "./host/doctor.js";
export type { PlinthEvent, EventSink } from "./events.js";
export * from "./errors.js";
