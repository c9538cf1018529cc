import { randomBytes } from "node:crypto";
import path from "node:path";
import { noEvents, type EventSink } from "../events.js";
import { checkName } from "../names.js";
import { Machine } from "../vm/machine.js";
import { qemuVersion } from "../vm/qemu/version.js";
import { DISK, STATE, verifySnapshot, type SnapshotManifest } from "./manifest.js";
import { findBase } from "./rules.js";
import { resolveSnapshotRef } from "./store.js";

export interface RestoreSnapshotOptions {
  name?: string;
  /** Outlive this process (the CLI's restore and fork); the SDK's default is attached. */
  detach?: boolean;
  onEvent?: EventSink;
}

export interface Restored {
  machine: Machine;
  snapshot: SnapshotManifest;
  /** QEMU started → state loaded → agent answering → identity given. */
  readyMs: number;
}

/**
 * Run a snapshot again: checked whole and against the version rules before QEMU starts,
 * then loaded, its agent reconnected (the new hello ends the saved session: execs that
 * were running when it was taken are killed in the restored guest) and given a fresh
 * RNG seed and the host's clock. `hostname` also renames it (forks).
 */
export async function restoreSnapshot(
  ref: string,
  o: RestoreSnapshotOptions & { hostname?: string } = {},
): Promise<Restored> {
  const { dir, snapshot, image } = await prepare(ref, o.onEvent);
  return start(dir, snapshot, image, o);
}

/**
 * N independent VMs from one snapshot, each on its own overlay over the shared frozen
 * disk, each with its own RNG seed, clock and hostname (its VM name). All or none: if one
 * fails, those already running are killed.
 */
export async function forkSnapshot(
  ref: string,
  n: number,
  o: RestoreSnapshotOptions = {},
): Promise<Restored[]> {
  const { dir, snapshot, image } = await prepare(ref, o.onEvent);
  const prefix = o.name ?? `${snapshot.vm.slice(0, 44)}-${randomBytes(3).toString("hex")}`;
  const names = Array.from({ length: n }, (_, i) => checkName("VM", `${prefix}-${i + 1}`));
  const out: Restored[] = [];
  let failed: { error: unknown } | undefined;
  const queue = [...names];
  // Two at a time (loading a state is disk- and CPU-bound; this host has 2 cores); after
  // a failure no new fork starts, and the lanes finish before the others are killed.
  const lane = async () => {
    for (let name = queue.shift(); name && !failed; name = queue.shift()) {
      try {
        out.push(await start(dir, snapshot, image, { ...o, name, hostname: hostnameOf(name) }));
      } catch (error) {
        failed ??= { error };
      }
    }
  };
  await Promise.all([lane(), lane()]);
  if (failed) {
    await Promise.all(out.map((r) => r.machine.kill().then(() => r.machine.remove())));
    throw failed.error;
  }
  return names.map((name) => out.find((r) => r.machine.name === name)!);
}

/** The snapshot's dir, checked whole, and the base image the version rules chose. */
async function prepare(ref: string, onEvent: EventSink = noEvents) {
  const dir = resolveSnapshotRef(ref);
  const snapshot = await verifySnapshot(dir);
  const base = await findBase(snapshot, qemuVersion());
  for (const message of base.warnings) onEvent({ type: "log", level: "warn", message });
  return { dir, snapshot, image: base.imageDir };
}

async function start(
  dir: string,
  s: SnapshotManifest,
  image: string,
  o: RestoreSnapshotOptions & { hostname?: string },
): Promise<Restored> {
  const t0 = performance.now();
  const machine = await Machine.restore({
    image,
    state: path.join(dir, STATE),
    disk: path.join(dir, DISK),
    from: dir,
    name: o.name,
    accel: s.machine.accel,
    memMiB: s.machine.memMiB,
    cpus: s.machine.cpus,
    shape: {
      boot: "kernel",
      cmdline: s.machine.cmdline,
      tscKhz: s.machine.tscKhz,
      net: s.machine.net,
      extraPorts: s.machine.extraPorts,
    },
    detach: o.detach,
  });
  try {
    if (machine.hasAgent)
      await (
        await machine.agent()
      ).identity({
        entropy: randomBytes(64),
        timeMs: Date.now(),
        hostname: o.hostname,
      });
  } catch (error) {
    await machine.kill();
    await machine.remove();
    throw error;
  }
  return { machine, snapshot: s, readyMs: performance.now() - t0 };
}

/** A VM name as a hostname: letters, digits and dashes. */
function hostnameOf(name: string): string {
  return name.replace(/[^A-Za-z0-9-]/g, "-").slice(0, 63);
}
