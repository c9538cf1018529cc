#!/usr/bin/env node
// bench/snapshot: snapshot time and size of the minimal image's VM; restore → agent
// answering, as a ratio to the boot floor measured in the same run (the same kernel with a
// busybox initramfs, same accelerator; target <= 0.2x); a cold boot for comparison; and
// fork of FORKS (default 10) → all answering.
//
//   sudo npm run bench:snapshot        (RUNS=5 by default; about 3 minutes under TCG)
import path from "node:path";
import { bootFloor, floorInitramfs } from "./floor.mjs";
import { fmt, privateHome, root, row, stats } from "./lib.mjs";

const home = privateHome();
const { ensureImage, Sandbox, chooseAccel } = await import("../dist/index.js");
const RUNS = Number(process.env.RUNS ?? 5);
const FORKS = Number(process.env.FORKS ?? 10);

const image = (await ensureImage({ specFile: path.join(root, "examples/minimal.yaml") })).imageDir;
const kernel = path.join(image, "vmlinuz");
const accel = await chooseAccel(process.env.ACCEL ?? "auto", kernel);
const initrd = floorInitramfs();

const src = await Sandbox.start(image, { accel });
const boots = [src.bootMs];
await src.exec("echo warm > /root/f");
const taken = [];
const paused = [];
let size = 0;
for (let i = 0; i < RUNS; i++) {
  const r = await src.snapshot({ out: path.join(home, "bench-snaps", `s${i}`) });
  taken.push(r.totalMs);
  paused.push(r.pausedMs);
  size = r.manifest.files.state.size + r.manifest.files["disk.qcow2"].size;
}
await src.stop();
const snapshot = path.join(home, "bench-snaps", "s0");

const floor = [];
const restores = [];
// Interleaved, so drift on a shared machine hits floor, restore and boot alike.
for (let i = 0; i < RUNS; i++) {
  floor.push(await bootFloor(initrd, accel, kernel));
  const sb = await Sandbox.restore(snapshot);
  restores.push(sb.bootMs);
  await sb.stop();
  const cold = await Sandbox.start(image, { accel });
  boots.push(cold.bootMs);
  await cold.stop();
}

const t0 = performance.now();
const forks = await Sandbox.fork(snapshot, FORKS);
const forkMs = performance.now() - t0;
await Promise.all(forks.map((f) => f.stop()));

const f = stats(floor.map((x) => x / 1000));
const r = stats(restores.map((x) => x / 1000));
const b = stats(boots.map((x) => x / 1000));
console.log(`accelerator: ${accel}; guest memory 1024 MiB; snapshot ${fmt(size / 2 ** 20, 1)} MiB`);
row("snapshot (pause → files summed)", stats(taken.map((x) => x / 1000)), "s");
row("  of which the guest was paused", stats(paused.map((x) => x / 1000)), "s");
row("floor (kernel + busybox initramfs)", f, "s");
row("restore → agent answering", r, "s", `   ${fmt(r.median / f.median)}x floor (target <= 0.2x)`);
row(
  "cold boot → agent answering",
  b,
  "s",
  `   restore is ${fmt(r.median / b.median)}x a cold boot`,
);
console.log(
  `fork of ${FORKS} → all answering: ${fmt(forkMs / 1000)} s (${fmt(forkMs / FORKS / 1000)} s each)`,
);
