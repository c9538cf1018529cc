#!/usr/bin/env node
// bench/exec: round trip of `true` through the plinth agent, against (a) a raw echo over
// the same virtio-serial transport and (b) qemu-guest-agent's guest-exec +
// guest-exec-status polling, in the same guest, in the same run.
//
//   sudo npm run bench:exec            (N=100 by default)
import { bootBenchVm, ECHO, onPort, QGA } from "./guest.mjs";
import { fmt, privateHome, row, stats } from "./lib.mjs";

privateHome();
const N = Number(process.env.N ?? 100);
const { vm, client, socket, accel } = await bootBenchVm();

try {
  // Guest side of the peers, started through the agent and left running.
  client.spawn(["sh", "-c", onPort(ECHO, "exec cat <&3 >&3")]);
  client.spawn(["qemu-ga", "-m", "virtio-serial", "-p", `/dev/virtio-ports/${QGA}`]);

  // (a) raw echo: 64 bytes out and back.
  const echo = await socket(ECHO);
  const payload = Buffer.alloc(64, 0x61);
  const echoOnce = () =>
    new Promise((resolve) => {
      let got = 0;
      const t0 = performance.now();
      const onData = (b) => {
        got += b.length;
        if (got >= payload.length) {
          echo.off("data", onData);
          resolve(performance.now() - t0);
        }
      };
      echo.on("data", onData);
      echo.write(payload);
    });

  // (b) qemu-guest-agent: newline-delimited JSON, one command at a time.
  const qga = await socket(QGA);
  let qbuf = "";
  const waiters = [];
  qga.on("data", (b) => {
    qbuf += b;
    let nl;
    while ((nl = qbuf.indexOf("\n")) >= 0) {
      const line = qbuf.slice(0, nl).trim();
      qbuf = qbuf.slice(nl + 1);
      if (line) waiters.shift()?.(JSON.parse(line));
    }
  });
  const qcall = (execute, args) =>
    new Promise((resolve) => {
      waiters.push(resolve);
      qga.write(JSON.stringify({ execute, ...(args ? { arguments: args } : {}) }) + "\n");
    });
  // qemu-ga may still be starting: sync until it answers.
  for (let i = 0; ; i++) {
    const r = await Promise.race([
      qcall("guest-sync", { id: i }),
      new Promise((r) => setTimeout(r, 1000)),
    ]);
    if (r && r.return === i) break;
    waiters.length = 0;
  }
  const qgaExec = async () => {
    const t0 = performance.now();
    const { return: ret } = await qcall("guest-exec", { path: "/bin/true" });
    // Poll as fast as the channel allows: the best case for qemu-guest-agent.
    for (;;) {
      const st = await qcall("guest-exec-status", { pid: ret.pid });
      if (st.return.exited) return performance.now() - t0;
    }
  };
  const pings = [];
  const agentPing = async () => {
    const t0 = performance.now();
    await client.ping();
    pings.push(performance.now() - t0);
  };
  const inGuest = [];
  const agentExec = async () => {
    const t0 = performance.now();
    const r = await client.exec(["true"]);
    inGuest.push(r.durationMs);
    return performance.now() - t0;
  };

  // Warm up each path, then interleave so drift hits all three alike.
  for (const f of [echoOnce, agentExec, qgaExec]) for (let i = 0; i < 5; i++) await f();
  const [e, a, q] = [[], [], []];
  for (let i = 0; i < N; i++) {
    e.push(await echoOnce());
    a.push(await agentExec());
    q.push(await qgaExec());
    await agentPing();
  }
  const se = stats(e);
  const sa = stats(a);
  const sq = stats(q);
  const sg = stats(inGuest.slice(-N));
  console.log(`accelerator: ${accel}`);
  row("raw echo (64 B, virtio-serial)", se, "ms");
  row("qemu-guest-agent exec+status", sq, "ms");
  row(
    "plinth agent exec `true`",
    sa,
    "ms",
    `   ${fmt(sa.median / se.median)}x echo (target <= 3x), ${fmt(sa.median / sq.median)}x qemu-ga (target <= 0.5x)`,
  );
  row("  of which spawn-to-exit in guest", sg, "ms", "   (the child's own life: exec, run, exit)");
  const sp = stats(pings);
  row(
    "plinth agent ping (protocol RTT)",
    sp,
    "ms",
    `   ${fmt(sp.median / se.median)}x echo (target <= 3x)`,
  );
  echo.destroy();
  qga.destroy();
} finally {
  await vm.stop();
  await vm.remove();
}
