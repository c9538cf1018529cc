#!/usr/bin/env node
// bench/boot: boot-to-agent-ready of the minimal (init: minimal) and systemd images,
// against a floor measured in the same run on the same accelerator: the same kernel
// with a busybox-only initramfs that prints a line and powers off.
//
//   sudo npm run bench:boot            (RUNS=5 by default; about 3 minutes under TCG)
import path from "node:path";
import { bootFloor, floorInitramfs } from "./floor.mjs";
import { fmt, privateHome, root, row, stats } from "./lib.mjs";

privateHome();
const { ensureImage, Machine, chooseAccel } = await import("../dist/index.js");
const RUNS = Number(process.env.RUNS ?? 5);

const minimal = (await ensureImage({ specFile: path.join(root, "examples/minimal.yaml") }))
  .imageDir;
const systemd = (await ensureImage({ specFile: path.join(root, "examples/systemd.yaml") }))
  .imageDir;
const kernel = path.join(minimal, "vmlinuz");
const accel = await chooseAccel(process.env.ACCEL ?? "auto", kernel);

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
  floor.push(await bootFloor(initrd, accel, kernel));
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
