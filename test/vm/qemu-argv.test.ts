import { describe, expect, it } from "vitest";
import { hostTscKhz, qemuArgv } from "../../src/vm/qemu/argv.js";
import { vmPaths } from "../../src/vm/state.js";

const base = {
  boot: { kernel: "/k", cmdline: "console=ttyS0" },
  memMiB: 512,
  cpus: 1,
  tscKhz: 2599998,
  paths: vmPaths("t"),
};
const after = (argv: string[], flag: string) => argv.filter((_, i) => argv[i - 1] === flag);

describe("qemuArgv", () => {
  it("tells a TCG guest the host's TSC frequency", () => {
    const argv = qemuArgv({ ...base, accel: "tcg" });
    expect(after(argv, "-append")).toEqual(["console=ttyS0 tsc_early_khz=2599998"]);
    expect(argv).toEqual(expect.arrayContaining(["-accel", "tcg", "-no-reboot", "-nodefaults"]));
  });

  it("passes the host CPU and no TSC override under KVM", () => {
    const argv = qemuArgv({ ...base, accel: "kvm", boot: { ...base.boot, initrd: "/i" } });
    expect(after(argv, "-append")).toEqual(["console=ttyS0"]);
    expect(after(argv, "-cpu")).toEqual(["host"]);
    expect(after(argv, "-initrd")).toEqual(["/i"]);
  });

  it("boots microvm with the overlay, the agent's virtio-serial port, console and QMP sockets", () => {
    const argv = qemuArgv({ ...base, accel: "tcg" });
    const p = base.paths;
    expect(after(argv, "-M")[0]).toMatch(/^microvm,/);
    expect(after(argv, "-drive")).toEqual([
      `id=root,file=${p.overlay},format=qcow2,if=none,cache=unsafe`,
    ]);
    expect(after(argv, "-device")).toEqual([
      "virtio-blk-device,drive=root",
      "virtio-serial-device,max_ports=2",
      "virtserialport,chardev=agent,name=org.plinth.agent.0",
    ]);
    expect(after(argv, "-chardev")).toEqual([
      `socket,id=con,path=${p.console},server=on,wait=off,logfile=${p.consoleLog},logappend=on`,
      `socket,id=agent,path=${p.agent},server=on,wait=off`,
    ]);
    expect(after(argv, "-qmp")).toEqual([`unix:${p.qmp},server=on,wait=off`]);
  });

  it("boots a disk on q35 from OVMF's pflash pair, its devices on PCI, no kernel of its own", () => {
    const argv = qemuArgv({
      ...base,
      accel: "tcg",
      boot: { firmware: { code: "/ovmf/code.fd", vars: "/vm/efivars.fd" } },
      net: {},
    });
    expect(after(argv, "-M")).toEqual(["q35"]);
    expect(after(argv, "-drive").slice(0, 2)).toEqual([
      "if=pflash,format=raw,unit=0,readonly=on,file=/ovmf/code.fd",
      "if=pflash,format=raw,unit=1,file=/vm/efivars.fd",
    ]);
    expect(after(argv, "-device")).toEqual([
      "virtio-blk-pci,drive=root",
      "virtio-serial-pci,max_ports=2",
      "virtserialport,chardev=agent,name=org.plinth.agent.0",
      "virtio-net-pci,netdev=net0",
    ]);
    for (const flag of ["-kernel", "-append", "-initrd"]) expect(argv).not.toContain(flag);
  });

  it("reads the TSC frequency from /proc/cpuinfo", () => {
    expect(hostTscKhz("processor : 0\ncpu MHz\t\t: 2599.998\n")).toBe(2599998);
    expect(hostTscKhz("")).toBeUndefined();
  });

  it("restores: the overlay's backing chain given explicitly, the state from an fd", () => {
    const argv = qemuArgv({
      ...base,
      accel: "tcg",
      backing: [
        { file: "/snaps/a,b/disk.qcow2", format: "qcow2" },
        { file: "/img/rootfs.ext4", format: "raw" },
      ],
      incoming: "fd:3",
    });
    expect(after(argv, "-drive")[0]).toContain(
      ",backing.driver=qcow2,backing.file.filename=/snaps/a,,b/disk.qcow2" +
        ",backing.backing.driver=raw,backing.backing.file.filename=/img/rootfs.ext4",
    );
    expect(after(argv, "-incoming")).toEqual(["fd:3"]);
  });
});
