// The boot floor every boot-time ratio is against: the same kernel with a busybox-only
// initramfs that prints a line and powers off, on the same machine and accelerator.
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

export function floorInitramfs() {
  const dir = mkdtempSync(path.join(os.tmpdir(), "plinth-floor-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  const tree = path.join(dir, "tree");
  mkdirSync(path.join(tree, "bin"), { recursive: true });
  copyFileSync(
    execFileSync("sh", ["-c", "command -v busybox"]).toString().trim(),
    path.join(tree, "bin/busybox"),
  );
  writeFileSync(
    path.join(tree, "init"),
    "#!/bin/busybox sh\n/bin/busybox echo plinth-floor-ready\n/bin/busybox poweroff -f\n",
  );
  chmodSync(path.join(tree, "init"), 0o755);
  const out = path.join(dir, "floor.cpio");
  execFileSync("sh", ["-c", `cd ${tree} && find . | cpio -o -H newc --quiet > ${out}`]);
  return out;
}

/** Same machine, accelerator, kernel and console as plinth's VMs; no disk, no agent. */
export async function bootFloor(initrd, accel, kernel) {
  const { hostTscKhz } = await import("../dist/vm/qemu/argv.js");
  const tsc = accel === "tcg" ? ` tsc_early_khz=${hostTscKhz()}` : "";
  // prettier-ignore
  const argv = [
    "-accel", accel, "-M", "microvm,x-option-roms=off,rtc=on", "-cpu", accel === "kvm" ? "host" : "max",
    "-m", "1024", "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
    "-serial", "stdio", "-kernel", kernel, "-initrd", initrd, "-append", `console=ttyS0 panic=-1${tsc}`,
  ];
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn("qemu-system-x86_64", argv, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    let at;
    child.stdout.on("data", (b) => {
      out += b;
      if (at === undefined && out.includes("plinth-floor-ready")) at = performance.now() - t0;
    });
    child.on("exit", () =>
      at === undefined ? reject(new Error("floor guest did not print")) : resolve(at),
    );
  });
}
