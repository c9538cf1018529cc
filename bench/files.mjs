#!/usr/bin/env node
// bench/files: host→guest and guest→host throughput of a 64 MiB file through the agent
// (files.write / files.read, into tmpfs), against raw bytes over the same virtio-serial
// transport (a second port, the guest side reading or writing it with head -c).
//
//   sudo npm run bench:files            (RUNS=3 by default)
import { randomBytes } from "node:crypto";
import { bootBenchVm, onPort, RAW } from "./guest.mjs";
import { fmt, privateHome, row, stats } from "./lib.mjs";

privateHome();
const RUNS = Number(process.env.RUNS ?? 3);
const SIZE = 64 * 1024 * 1024;
const MiB = 1024 * 1024;
const data = randomBytes(SIZE);
const { vm, client, socket, accel } = await bootBenchVm();

async function rawIn() {
  const t0 = performance.now();
  const guest = client.exec(["sh", "-c", onPort(RAW, `head -c ${SIZE} <&3 > /dev/null`)]);
  const sock = await socket(RAW);
  sock.write(data);
  const r = await guest;
  if (r.exitCode !== 0) throw new Error(`raw in: ${r.stderr}`);
  sock.destroy();
  return performance.now() - t0;
}

async function rawOut() {
  const t0 = performance.now();
  const sock = await socket(RAW);
  const got = new Promise((resolve) => {
    let n = 0;
    sock.on("data", (b) => {
      n += b.length;
      if (n >= SIZE) resolve();
    });
  });
  // From the file agentIn wrote to tmpfs: the same bytes the agent reads back.
  const guest = client.exec(["sh", "-c", onPort(RAW, `head -c ${SIZE} /dev/shm/blob >&3`)]);
  await got;
  await guest;
  sock.destroy();
  return performance.now() - t0;
}

async function agentIn() {
  const t0 = performance.now();
  await client.files.write("/dev/shm/blob", data);
  return performance.now() - t0;
}

async function agentOut() {
  const t0 = performance.now();
  const b = await client.files.read("/dev/shm/blob");
  if (b.length !== SIZE) throw new Error("short read");
  return performance.now() - t0;
}

try {
  const results = { rawIn: [], agentIn: [], rawOut: [], agentOut: [] };
  // agentIn first: it leaves /dev/shm/blob for rawOut and agentOut.
  const fns = { agentIn, rawIn, rawOut, agentOut };
  for (let i = 0; i < RUNS; i++)
    for (const [k, f] of Object.entries(fns)) results[k].push(SIZE / MiB / ((await f()) / 1000));
  const s = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, stats(v)]));
  console.log(`accelerator: ${accel}; 64 MiB, MiB/s (higher is better)`);
  row("raw host→guest", s.rawIn, "MiB/s");
  row(
    "agent files.write host→guest",
    s.agentIn,
    "MiB/s",
    `   ${fmt((100 * s.agentIn.median) / s.rawIn.median, 0)}% of raw (target >= 60%)`,
  );
  row("raw guest→host", s.rawOut, "MiB/s");
  row(
    "agent files.read guest→host",
    s.agentOut,
    "MiB/s",
    `   ${fmt((100 * s.agentOut.median) / s.rawOut.median, 0)}% of raw (target >= 50%)`,
  );
} finally {
  await vm.stop();
  await vm.remove();
}
