import { existsSync } from "node:fs";
import path from "node:path";
import { checkName } from "../names.js";
import { plinthHome } from "../paths.js";
import { inside } from "../util/safe-path.js";
import { MANIFEST } from "./manifest.js";

/** Temp dirs and files of snapshots being written: `<PARTIAL><pid>-…`, renamed when whole. */
export const PARTIAL = ".plinth-partial-";

/** Snapshots plinth keeps itself: `$PLINTH_HOME/snapshots/<name>/` (taken without -o, imported). */
export function snapshotsDir(): string {
  return path.join(plinthHome(), "snapshots");
}

/** A snapshot by directory, or by name in the store. */
export function resolveSnapshotRef(ref: string): string {
  if (ref.includes("/") || existsSync(path.join(ref, MANIFEST))) return path.resolve(ref);
  return inside(snapshotsDir(), checkName("snapshot", ref));
}

/** `<vm>-<UTC date and time>`: the default name of a snapshot in the store. */
export function defaultSnapshotName(vm: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  return `${vm.slice(0, 46)}-${stamp}`;
}
