import type { ChildProcess } from "node:child_process";
import { closeSync, existsSync, openSync } from "node:fs";
import { copyFile } from "node:fs/promises";
import path from "node:path";
import type { Duplex } from "node:stream";
import { BootError, PlinthError, UserError } from "../../errors.js";
import { run } from "../../host/exec.js";
import type { ImageMetadata } from "../../image/metadata.js";
import {
  connectUnix,
  firstLine,
  sleep,
  spawnVmm,
  type SnapshotHooks,
  type VmDriver,
} from "../driver.js";
import { findOvmf } from "../firmware.js";
import type { VmPaths } from "../state.js";
import { type QemuConfig } from "./argv.js";
import { Qmp } from "./qmp.js";

/** How a QEMU VM is launched: its argv, what each attempt needs first, a state to load. */
export interface QemuLaunch {
  argv: string[];
  prepare: () => Promise<void>;
  /** The saved state QEMU loads on its fd 3 (`-incoming fd:3`): a restore. */
  stateFile?: string;
}

/**
 * QEMU: the agent on a virtio-serial port (a Unix socket in the VM's dir), power-off and
 * snapshots over QMP. `launch` is absent for a VM another plinth started (attach).
 */
export class QemuDriver implements VmDriver {
  readonly vmm = "qemu";

  constructor(
    private readonly paths: VmPaths,
    private readonly launch?: QemuLaunch,
  ) {}

  prepare(): Promise<void> {
    return this.launch ? this.launch.prepare() : Promise.resolve();
  }

  async start(detach: boolean): Promise<ChildProcess> {
    const { argv, stateFile } = this.launch!;
    const fd3 = stateFile === undefined ? undefined : openSync(stateFile, "r");
    try {
      return spawnVmm(argv, { detach, stderr: this.log(), fd3 });
    } finally {
      if (fd3 !== undefined) closeSync(fd3);
    }
  }

  agentStream(signal?: AbortSignal): Promise<Duplex> {
    return connectUnix(this.paths.agent, signal);
  }

  powerOff(): Promise<void> {
    return this.qmp(async (q) => void (await q.execute("system_powerdown")));
  }

  error(): string {
    return firstLine(this.log());
  }

  readonly snapshots: SnapshotHooks = {
    save: (file) =>
      this.qmp(async (q) => {
        // The default cap (32 MiB/s) is for live migration over a network; this is a file.
        await q.execute("migrate-set-parameters", { "max-bandwidth": 2 ** 40 });
        await q.execute("stop");
        await q.execute("migrate", { uri: `exec:cat > ${shellQuote(file)}` });
        for (;;) {
          const r = (await q.execute("query-migrate")) as {
            status?: string;
            "error-desc"?: string;
          };
          if (r.status === "completed") return;
          if (r.status === "failed" || r.status === "cancelled")
            throw new PlinthError(
              "SNAPSHOT_FAILED",
              `QEMU could not save the VM's state: ${r["error-desc"] ?? r.status}.`,
            );
          await sleep(10);
        }
      }),
    resume: () =>
      this.qmp(async (q) => {
        // A save whose plinth died may still run: it would pause the guest again.
        if (await migrating(q)) {
          await q.execute("migrate_cancel");
          while (await migrating(q)) await sleep(10);
        }
        await q.execute("cont");
      }),
    load: async (timeoutMs, signal) => {
      const deadline = performance.now() + timeoutMs;
      while (!existsSync(this.paths.qmp)) {
        if (signal?.aborted || performance.now() > deadline)
          throw new BootError("QEMU did not open its QMP socket.");
        await sleep(20);
      }
      await this.qmp(async (q) => {
        for (;;) {
          const status = ((await q.execute("query-migrate")) as { status?: string }).status;
          if (status === "completed") break;
          if (status === "failed" || status === "cancelled")
            throw new BootError(`QEMU could not load the snapshot (migration ${status}).`);
          if (performance.now() > deadline)
            throw new BootError(`QEMU did not load the snapshot within ${timeoutMs / 1000} s.`);
          await sleep(10);
        }
        // The state was saved paused, so the guest waits for this.
        await q.execute("cont");
      }, 10_000);
    },
  };

  private log(): string {
    return path.join(this.paths.dir, "qemu.log");
  }

  private async qmp<T>(fn: (q: Qmp) => Promise<T>, timeoutMs = 5000): Promise<T> {
    const q = await Qmp.connect(this.paths.qmp, timeoutMs);
    try {
      return await fn(q);
    } finally {
      q.close();
    }
  }
}

/**
 * What QEMU boots, and what each attempt needs first: a fresh overlay on the image's
 * disk (and, for UEFI, a fresh copy of the firmware's variable store).
 */
export function bootSource(
  o: { image: string; boot?: "kernel" | "disk"; append?: string },
  meta: ImageMetadata,
  dir: string,
): { qemu: QemuConfig["boot"]; prepare: () => Promise<void> } {
  const overlay = path.join(dir, "overlay.qcow2");
  if ((o.boot ?? "kernel") === "kernel") {
    return {
      qemu: kernelBoot(o.image, meta, [meta.kernel.cmdline, o.append].filter(Boolean).join(" ")),
      prepare: () => createOverlay(path.resolve(o.image, "rootfs.ext4"), overlay),
    };
  }
  const disk = meta.artifacts.find((a) => a.kind === "disk");
  if (!disk)
    throw new UserError("NO_DISK", `${meta.name} ${meta.version} has no UEFI disk to boot.`, {
      hint: "Add `disk` to the spec's outputs, or boot it the default way (without --boot disk).",
    });
  if (o.append)
    throw new UserError(
      "APPEND_NEEDS_KERNEL_BOOT",
      "--append needs the kernel boot: a disk boots its loader entry's command line.",
      { hint: "Drop --boot disk, or leave out --append." },
    );
  const ovmf = findOvmf();
  const vars = path.join(dir, "efivars.fd");
  return {
    qemu: { firmware: { code: ovmf.code, vars } },
    prepare: async () => {
      await copyFile(ovmf.vars, vars);
      await createOverlay(path.resolve(o.image, disk.name), overlay);
    },
  };
}

/** The image's own kernel and initrd, booted directly. */
export function kernelBoot(image: string, meta: ImageMetadata, cmdline: string) {
  const initrd = meta.artifacts.some((a) => a.kind === "initrd");
  return {
    kernel: path.join(image, "vmlinuz"),
    initrd: initrd ? path.join(image, "initrd.img") : undefined,
    cmdline,
  };
}

/**
 * The VM's writable disk: a qcow2 overlay; the image's disk is only read. A restore's
 * overlay sits on the snapshot's qcow2, whose own backing QEMU is given on its command
 * line: `size` is then set here and the chain is not opened (`-u`).
 */
export async function createOverlay(
  backing: string,
  overlay: string,
  o: { format: "raw" | "qcow2"; size?: number } = { format: "raw" },
): Promise<void> {
  const unsafe = o.size === undefined ? [] : ["-u"];
  const size = o.size === undefined ? [] : [String(o.size)];
  await run(
    [
      "qemu-img",
      "create",
      "-q",
      "-f",
      "qcow2",
      "-F",
      o.format,
      ...unsafe,
      "-b",
      backing,
      overlay,
      ...size,
    ],
    { stage: "boot" },
  );
}

async function migrating(qmp: Qmp): Promise<boolean> {
  const r = (await qmp.execute("query-migrate")) as { status?: string };
  return ["setup", "active", "cancelling", "pre-switchover", "device"].includes(r.status ?? "");
}

/** For QEMU's `exec:` migration URIs, which run through /bin/sh. */
function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}
