import { readFileSync } from "node:fs";
import { AGENT_PORT } from "../../contract.js";
import type { Accel } from "../accel.js";
import type { VmPaths } from "../state.js";

export interface QemuConfig {
  accel: Accel;
  /**
   * What boots: the image's kernel directly on `microvm`, or (a `disk` image) UEFI
   * firmware from its pflash pair on `q35`, which boots the disk's own loader entry.
   */
  boot: { kernel: string; initrd?: string; cmdline: string } | { firmware: Firmware };
  memMiB: number;
  cpus: number;
  /** Host TSC frequency, passed to the guest under TCG (see qemuArgv). */
  tscKhz?: number;
  paths: Pick<VmPaths, "dir" | "overlay" | "qmp" | "agent" | "console" | "consoleLog">;
  /** More virtio-serial ports, each a Unix socket `port-<name>.sock` in the state dir. */
  extraPorts?: string[];
  /**
   * A virtio-net NIC: on QEMU's user-mode network with host→guest TCP forwards, or on a
   * TAP plinth made (bridge networking) with the MAC its rules expect.
   */
  net?: { forwards?: PortForward[] } | TapNic;
  /**
   * The overlay's backing chain, nearest first, given here rather than read from the
   * overlay's header: a snapshot's disk keeps working when the store moved (import).
   */
  backing?: { file: string; format: "qcow2" | "raw" }[];
  /** Load the machine's state from this migration URI instead of booting (a restore). */
  incoming?: string;
}

export interface Firmware {
  /** OVMF's code, read-only and shared. */
  code: string;
  /** This VM's own copy of the variable store (the loader writes to it). */
  vars: string;
}

export interface TapNic {
  tap: string;
  mac: string;
}

export interface PortForward {
  host: number;
  guest: number;
}

/** Host socket of an extra virtio-serial port. */
export function portSocket(dir: string, name: string): string {
  return `${dir}/port-${name}.sock`;
}

/**
 * QEMU's argv. A kernel + ext4 image boots on the `microvm` machine: virtio-mmio devices,
 * no PCI, no firmware option ROMs. A disk image boots on `q35` under OVMF, with the same
 * devices on PCI. Either way the disk is the VM's qcow2 overlay (the image is never
 * written); the agent's virtio-serial port, the serial console and QMP are Unix sockets in
 * the VM's state dir, and the console is also logged to a file.
 *
 * Under TCG a kernel booted directly is told the TSC frequency: calibrating it against an
 * emulated timer sometimes fails ("could not calculate TSC khz") and the guest then
 * stalls for good (4 of 35 boots here; 0 of 23 with tsc_early_khz). A disk's command line
 * is its loader entry's: the boot watchdog's retry covers it there.
 */
export function qemuArgv(c: QemuConfig): string[] {
  const p = c.paths;
  const ports = c.extraPorts ?? [];
  const pci = "firmware" in c.boot;
  const bus = pci ? "pci" : "device";
  // prettier-ignore
  const argv = [
    "qemu-system-x86_64",
    "-accel", c.accel,
    "-M", pci ? "q35" : "microvm,x-option-roms=off,rtc=on",
    "-cpu", c.accel === "kvm" ? "host" : "max",
    "-m", String(c.memMiB),
    "-smp", String(c.cpus),
    "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
  ];
  if ("firmware" in c.boot) {
    const fw = c.boot.firmware;
    argv.push("-drive", `if=pflash,format=raw,unit=0,readonly=on,file=${fw.code}`);
    argv.push("-drive", `if=pflash,format=raw,unit=1,file=${fw.vars}`);
  } else {
    const tsc = c.accel === "tcg" && c.tscKhz ? [`tsc_early_khz=${c.tscKhz}`] : [];
    argv.push("-kernel", c.boot.kernel, "-append", [c.boot.cmdline, ...tsc].join(" "));
    if (c.boot.initrd) argv.push("-initrd", c.boot.initrd);
  }
  // prettier-ignore
  argv.push(
    "-chardev", `socket,id=con,path=${p.console},server=on,wait=off,logfile=${p.consoleLog},logappend=on`,
    "-serial", "chardev:con",
    // cache=unsafe: the overlay is the VM's private scratch disk; flushes buy nothing.
    "-drive", `id=root,file=${p.overlay},format=qcow2,if=none,cache=unsafe${backingOptions(c.backing)}`,
    "-device", `virtio-blk-${bus},drive=root`,
    "-device", `virtio-serial-${bus},max_ports=${2 + ports.length}`,
    "-chardev", `socket,id=agent,path=${p.agent},server=on,wait=off`,
    "-device", `virtserialport,chardev=agent,name=${AGENT_PORT}`,
    "-qmp", `unix:${p.qmp},server=on,wait=off`,
  );
  ports.forEach((name, i) => {
    argv.push("-chardev", `socket,id=port${i},path=${portSocket(p.dir, name)},server=on,wait=off`);
    argv.push("-device", `virtserialport,chardev=port${i},name=${name}`);
  });
  if (c.net && "tap" in c.net) {
    // plinth made the TAP and put it on the bridge: QEMU only opens it.
    argv.push("-netdev", `tap,id=net0,ifname=${c.net.tap},script=no,downscript=no`);
    argv.push("-device", `virtio-net-${bus},netdev=net0,mac=${c.net.mac}`);
  } else if (c.net) {
    // Loopback only: a sandbox's ports are not for the host's network.
    const fwd = (c.net.forwards ?? []).map((f) => `,hostfwd=tcp:127.0.0.1:${f.host}-:${f.guest}`);
    argv.push("-netdev", `user,id=net0${fwd.join("")}`);
    argv.push("-device", `virtio-net-${bus},netdev=net0`);
  }
  if (c.incoming) argv.push("-incoming", c.incoming);
  return argv;
}

function backingOptions(chain: QemuConfig["backing"] = []): string {
  return chain
    .map((b, i) => {
      const key = "backing.".repeat(i + 1);
      return `,${key}driver=${b.format},${key}file.filename=${b.file.replaceAll(",", ",,")}`;
    })
    .join("");
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
