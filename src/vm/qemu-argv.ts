import { readFileSync } from "node:fs";
import type { Accel } from "./accel.js";

export interface QemuConfig {
  accel: Accel;
  kernel: string;
  initrd?: string;
  cmdline: string;
  /** The VM's writable disk (a qcow2 overlay over the image's rootfs.ext4). */
  disk: string;
  memMiB: number;
  cpus: number;
  /** Host TSC frequency, passed to the guest under TCG (see tscArgs). */
  tscKhz?: number;
}

/**
 * QEMU's argv for a kernel + ext4 image. Under TCG the guest is told the TSC frequency:
 * calibrating it against an emulated timer sometimes fails ("could not calculate TSC
 * khz") and the guest then stalls for good (4 of 35 boots here; 0 of 23 with this).
 */
export function qemuArgv(c: QemuConfig): string[] {
  const cmdline = [
    c.cmdline,
    ...(c.accel === "tcg" && c.tscKhz ? [`tsc_early_khz=${c.tscKhz}`] : []),
  ].join(" ");
  const argv = [
    "qemu-system-x86_64",
    "-accel",
    c.accel,
    "-M",
    "q35",
    "-cpu",
    c.accel === "kvm" ? "host" : "max",
    "-m",
    String(c.memMiB),
    "-smp",
    String(c.cpus),
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-no-reboot",
    "-serial",
    "stdio",
    "-kernel",
    c.kernel,
    "-append",
    cmdline,
    "-drive",
    `file=${c.disk},format=qcow2,if=virtio,cache=unsafe`,
  ];
  if (c.initrd) argv.push("-initrd", c.initrd);
  return argv;
}

/** The host's TSC frequency in kHz, from /proc/cpuinfo. */
export function hostTscKhz(cpuinfo = safeRead("/proc/cpuinfo")): number | undefined {
  const m = /^cpu MHz\s*:\s*([\d.]+)/m.exec(cpuinfo);
  return m ? Math.round(Number(m[1]) * 1000) : undefined;
}

function safeRead(f: string): string {
  try {
    return readFileSync(f, "utf8");
  } catch {
    return "";
  }
}
