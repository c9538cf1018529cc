import { existsSync, readdirSync } from "node:fs";
import { mkdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { PROTOCOL_VERSION } from "../agent/protocol/constants.js";
import { UserError } from "../errors.js";
import { noEvents, type EventSink } from "../events.js";
import { run } from "../host/exec.js";
import type { Machine } from "../vm/machine.js";
import { qemuVersion } from "../vm/qemu/version.js";
import { isValidName } from "../names.js";
import { removeInside } from "../util/safe-path.js";
import { DISK, fileSum, MANIFEST, STATE, type SnapshotManifest } from "./manifest.js";
import { SNAPSHOT_MACHINE } from "./rules.js";
import { defaultSnapshotName, PARTIAL, snapshotsDir } from "./store.js";

export interface SnapshotOptions {
  /** The snapshot's directory (default: `$PLINTH_HOME/snapshots/<vm>-<time>`); must not exist. */
  out?: string;
  /** Power the VM off once saved, instead of resuming it. */
  stop?: boolean;
  onEvent?: EventSink;
}

export interface SnapshotResult {
  dir: string;
  manifest: SnapshotManifest;
  /** How long the guest was paused (state saved and disk copied). */
  pausedMs: number;
  totalMs: number;
}

/**
 * Save a running VM: pause it, write its memory and device state, copy its disk overlay
 * while nothing writes to it (that copy is the frozen disk; the VM goes on writing to its
 * own overlay), resume it (or stop it), then sum the files into snapshot.json. All of it
 * goes to a temp dir beside `out`, renamed into place last: a snapshot killed half-way
 * leaves no snapshot dir, and the next snapshot into that parent removes the leftover.
 */
export async function takeSnapshot(m: Machine, o: SnapshotOptions = {}): Promise<SnapshotResult> {
  const emit = o.onEvent ?? noEvents;
  const t0 = performance.now();
  const { config } = m;
  const shape = config.shape;
  if (!shape || shape.boot !== "kernel")
    throw new UserError(
      "SNAPSHOT_BOOT",
      `VM "${m.name}" cannot be snapshotted: only a VM booted from the image's kernel can.`,
      {
        hint: "Start it without --boot disk (and with this plinth), then snapshot it.",
      },
    );
  if (config.restoredFrom)
    throw new UserError(
      "SNAPSHOT_OF_RESTORE",
      `VM "${m.name}" was restored from a snapshot; snapshotting it again is not supported yet.`,
      {
        hint: `Snapshot the VM the snapshot came from, or restore ${config.restoredFrom} again.`,
      },
    );
  if (config.network)
    throw new UserError(
      "SNAPSHOT_NET",
      `VM "${m.name}" is on bridge ${config.network.bridge}; a snapshot of a VM with a leased address is not supported yet.`,
      { hint: "Snapshot a VM started without --net bridge (--net user restores fine)." },
    );
  m.requireSnapshots();
  const protocol = config.agent?.protocol;
  if (m.hasAgent && !(protocol && protocol.major === 1 && protocol.minor >= 2))
    throw new UserError(
      "SNAPSHOT_AGENT",
      `VM "${m.name}" runs an agent of protocol ${protocol ? `${protocol.major}.${protocol.minor}` : "unknown (started by an older plinth)"}, which cannot give a restored guest its own identity (1.2).`,
      { hint: "Rebuild the image with this plinth, start it again, then snapshot it." },
    );
  const name = path.basename(o.out ?? defaultSnapshotName(m.name));
  if (!isValidName(name))
    throw new UserError(
      "BAD_NAME",
      `A snapshot's dir name must be a valid name, not ${JSON.stringify(name)}.`,
      {
        hint: "Use 1-63 lowercase letters, digits, '.', '_' or '-' for the last part of -o.",
      },
    );
  const out = path.resolve(o.out ?? path.join(snapshotsDir(), defaultSnapshotName(m.name)));
  if (existsSync(out))
    throw new UserError("SNAPSHOT_EXISTS", `${out} already exists.`, {
      hint: "Pass another -o, or remove the old snapshot first.",
    });
  const parent = path.dirname(out);
  await mkdir(parent, { recursive: true });
  await removeStalePartials(parent);
  const tmp = path.join(parent, `${PARTIAL}${process.pid}-${path.basename(out)}`);
  await mkdir(tmp);
  let paused = false;
  try {
    emit({ type: "stage:start", stage: "snapshot", title: "save state" });
    paused = true; // from here a failure resumes the guest (saveState pauses it first)
    await m.saveState(path.join(tmp, STATE));
    await run(["cp", "--sparse=always", m.paths.overlay, path.join(tmp, DISK)], {
      stage: "snapshot",
    });
    const pausedMs = performance.now() - t0;
    if (!o.stop) {
      await m.resumeAfterSave();
      paused = false;
    }
    const manifest: SnapshotManifest = {
      schemaVersion: 1,
      name,
      created: new Date().toISOString(),
      vm: m.name,
      base: {
        name: m.meta.name,
        version: m.meta.version,
        buildHash: m.meta.buildHash,
        arch: m.meta.arch,
        artifacts: m.meta.artifacts
          .filter((a) => ["rootfs", "kernel", "initrd"].includes(a.kind))
          .map(({ name, kind, size, sha256 }) => ({ name, kind, size, sha256 })),
      },
      machine: {
        type: SNAPSHOT_MACHINE,
        accel: config.accel,
        memMiB: config.memMiB,
        cpus: config.cpus,
        cmdline: shape.cmdline,
        tscKhz: shape.tscKhz,
        net: shape.net,
        extraPorts: shape.extraPorts,
      },
      qemu: { version: qemuVersion() },
      // From the VM's state, not a new hello: that would end the session of whoever
      // drives the VM now, and its running execs with it.
      agent: config.agent ?? { protocol: PROTOCOL_VERSION },
      files: {
        [STATE]: await fileSum(path.join(tmp, STATE)),
        [DISK]: await fileSum(path.join(tmp, DISK)),
      },
    };
    await writeFile(path.join(tmp, MANIFEST), JSON.stringify(manifest, null, 2) + "\n");
    await run(["sync", "-f", path.join(tmp, MANIFEST)], { stage: "snapshot" });
    await rename(tmp, out);
    emit({
      type: "stage:end",
      stage: "snapshot",
      durationMs: performance.now() - t0,
      detail: `paused ${Math.round(pausedMs)} ms`,
    });
    if (o.stop) {
      await m.kill();
      paused = false;
      await m.remove();
    }
    return { dir: out, manifest, pausedMs, totalMs: performance.now() - t0 };
  } catch (error) {
    if (paused) await m.resumeAfterSave().catch(() => undefined);
    await removeInside(parent, tmp);
    throw error;
  }
}

/** Temp dirs of snapshots whose plinth died: named by us, with a pid that no longer runs. */
async function removeStalePartials(parent: string): Promise<void> {
  for (const e of readdirSync(parent)) {
    const pid = e.startsWith(PARTIAL) ? Number(e.slice(PARTIAL.length).split("-")[0]) : 0;
    if (!(pid > 0) || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch {
      await removeInside(parent, e);
    }
  }
}
