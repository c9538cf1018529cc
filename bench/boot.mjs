#!/usr/bin/env node
// bench/boot: boot-to-agent-ready of the minimal (init: minimal) and systemd images,
// against a floor measured in the same run on the same accelerator: the same kernel
// with a busybox-only initramfs that prints a line and powers off.
//
//   sudo npm run bench:boot            (RUNS=5 by default; about 3 minutes under TCG)
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, copyFileSync, writeFileSync, chmodSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fmt, privateHome, root, row, stats } from "./lib.mjs";

privateHome();
const { ensureImage, Machine, chooseAccel } = await import("../dist/index.js");
const { hostTscKhz } = await import("../dist/vm/qemu-argv.js");
const RUNS = Number(process.env.RUNS ?? 5);

const minimal = (await ensureImage({ specFile: path.join(root, "examples/minimal.yaml") }))
  .imageDir;
const systemd = (await ensureImage({ specFile: path.join(root, "examples/systemd.yaml") }))
  .imageDir;
const kernel = path.join(minimal, "vmlinuz");
const accel = await chooseAccel(process.env.ACCEL ?? "auto", kernel);

function floorInitramfs() {
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
function bootFloor(initrd) {
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

async function bootImage(image) {
  const vm = await Machine.start({ image, accel });
  const ms = vm.boot.readyMs;
  await vm.stop();
  await vm.remove();
  return ms;
}

const initrd = floorInitramfs();
const floor = [];
const mins = [];
const sds = [];
// Interleaved, so drift on a shared machine hits all three alike.
for (let i = 0; i < RUNS; i++) {
  floor.push(await bootFloor(initrd));
  mins.push(await bootImage(minimal));
  sds.push(await bootImage(systemd));
}
const f = stats(floor.map((x) => x / 1000));
const m = stats(mins.map((x) => x / 1000));
const s = stats(sds.map((x) => x / 1000));
console.log(`accelerator: ${accel}`);
row("floor (kernel + busybox initramfs)", f, "s");
row(
  "minimal: boot-to-agent-ready",
  m,
  "s",
  `   ${fmt(m.median / f.median)}x floor (target <= 2.0x)`,
);
row(
  "systemd: boot-to-agent-ready",
  s,
  "s",
  `   ${fmt(s.median / f.median)}x floor (target <= 5.0x)`,
);
