import { describe, expect, it } from "vitest";
import { hostTscKhz, qemuArgv } from "../../src/vm/qemu-argv.js";

const base = {
  kernel: "/k",
  cmdline: "console=ttyS0",
  disk: "/d.qcow2",
  memMiB: 512,
  cpus: 1,
  tscKhz: 2599998,
};

describe("qemuArgv", () => {
  it("tells a TCG guest the host's TSC frequency", () => {
    const argv = qemuArgv({ ...base, accel: "tcg" });
    expect(argv[argv.indexOf("-append") + 1]).toBe("console=ttyS0 tsc_early_khz=2599998");
    expect(argv).toEqual(expect.arrayContaining(["-accel", "tcg", "-no-reboot", "-nodefaults"]));
  });

  it("passes the host CPU and no TSC override under KVM", () => {
    const argv = qemuArgv({ ...base, accel: "kvm", initrd: "/i" });
    expect(argv[argv.indexOf("-append") + 1]).toBe("console=ttyS0");
    expect(argv[argv.indexOf("-cpu") + 1]).toBe("host");
    expect(argv[argv.indexOf("-initrd") + 1]).toBe("/i");
  });

  it("reads the TSC frequency from /proc/cpuinfo", () => {
    expect(hostTscKhz("processor : 0\ncpu MHz\t\t: 2599.998\n")).toBe(2599998);
    expect(hostTscKhz("")).toBeUndefined();
  });
});
