#!/usr/bin/env node
// bench/net: what a NIC costs. Boot → agent answering with no NIC, --net user and --net
// bridge (as ratios to the boot floor of the same run: the same kernel with a busybox
// initramfs), and from the guest: TCP connect + first byte, and 64 MiB down, from a server
// on the host side (user: through QEMU's slirp to 10.0.2.2; bridge: the TAP to the
// bridge's address), bridge against user.
//
// It re-runs itself inside a network namespace of its own (deleted at the end): the
// bridge, its TAPs and nft rules never touch the host's namespace.
//
//   sudo npm run bench:net             (RUNS=3 by default; about 2 minutes under TCG)
import { execFileSync, spawnSync } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { bootFloor, floorInitramfs } from "./floor.mjs";
import { fmt, privateHome, root, row, stats } from "./lib.mjs";

const spec = path.join(root, "examples/minimal.yaml");
if (!process.env.PLINTH_BENCH_NETNS) {
  // The image is built out here, where the package mirror is reachable; the run inside
  // the namespace finds it in the same (private) store.
  privateHome();
  await (await import("../dist/index.js")).ensureImage({ specFile: spec });
  const ns = `plinth-bench-${process.pid}`;
  execFileSync("ip", ["netns", "add", ns]);
  execFileSync("ip", ["-n", ns, "link", "set", "lo", "up"]);
  const r = spawnSync("ip", ["netns", "exec", ns, process.execPath, import.meta.filename], {
    stdio: "inherit",
    env: { ...process.env, PLINTH_BENCH_NETNS: ns },
  });
  execFileSync("ip", ["netns", "del", ns]);
  process.exit(r.status ?? 1);
}

const { ensureImage, Sandbox, chooseAccel, removeNetwork } = await import("../dist/index.js");
const RUNS = Number(process.env.RUNS ?? 3);
const MIB = 64;

const image = (await ensureImage({ specFile: spec })).imageDir;
const kernel = path.join(image, "vmlinuz");
const accel = await chooseAccel(process.env.ACCEL ?? "auto", kernel);
const initrd = floorInitramfs();

// The host side's server: port 9000 answers one byte, 9001 sends MIB MiB.
const block = Buffer.alloc(1 << 20, 7);
const servers = [
  net.createServer((s) => s.end("x")).listen(9000, "0.0.0.0"),
  net
    .createServer((s) => {
      let left = MIB;
      const more = () => {
        while (left > 0) if ((left--, !s.write(block))) return void s.once("drain", more);
        s.end();
      };
      more();
    })
    .listen(9001, "0.0.0.0"),
];

// In the guest: nanoseconds for a connect + first byte, then for MIB MiB read to the end.
const probe = (to) => `
t0=$(date +%s%N); exec 3<>/dev/tcp/${to}/9000; head -c1 <&3 >/dev/null; t1=$(date +%s%N)
exec 4<>/dev/tcp/${to}/9001; cat <&4 >/dev/null; t2=$(date +%s%N)
echo $((t1 - t0)) $((t2 - t1))`;
// The minimal image has no DHCP client: user-mode's address comes from the command line.
const USER_IP = "plinth.ip=10.0.2.15/24 plinth.gateway=10.0.2.2";
const modes = [
  ["no NIC", undefined, undefined],
  ["--net user", {}, "10.0.2.2", USER_IP],
  ["--net bridge", { mode: "bridge", dns: [] }, "10.213.0.1"],
];
const floor = [];
const boot = Object.fromEntries(modes.map(([m]) => [m, []]));
const connect = { "--net user": [], "--net bridge": [] };
const down = { "--net user": [], "--net bridge": [] };
for (let i = 0; i < RUNS; i++) {
  floor.push((await bootFloor(initrd, accel, kernel)) / 1000);
  for (const [label, netOpt, to, append] of modes) {
    const sb = await Sandbox.start(image, { accel, net: netOpt, append });
    boot[label].push(sb.bootMs / 1000);
    if (to) {
      // guest-config brings eth0 up beside the agent: wait for the address.
      const up = await sb.exec(
        "for i in $(seq 200); do ip -4 -o addr show eth0 | grep -q inet && exit 0; sleep 0.05; done; exit 1",
      );
      if (up.exitCode !== 0) throw new Error(`${label}: the guest has no address after 10 s`);
      const [c, d] = (await sb.exec(["bash", "-c", probe(to)])).stdout.trim().split(" ");
      connect[label].push(Number(c) / 1e6);
      down[label].push(MIB / (Number(d) / 1e9));
    }
    await sb.stop();
  }
}
await removeNetwork("plinth0");
for (const s of servers) s.close();

const f = stats(floor);
console.log(
  `accelerator: ${accel}; ${RUNS} runs; in network namespace ${process.env.PLINTH_BENCH_NETNS}`,
);
row("floor (kernel + busybox initramfs)", f, "s");
for (const [label] of modes) {
  const b = stats(boot[label]);
  row(`boot → agent, ${label}`, b, "s", `   ${fmt(b.median / f.median)}x floor`);
}
const cu = stats(connect["--net user"]);
const cb = stats(connect["--net bridge"]);
row("TCP connect+byte, --net user", cu, "ms");
row("TCP connect+byte, --net bridge", cb, "ms", `   ${fmt(cb.median / cu.median)}x user`);
const du = stats(down["--net user"]);
const db = stats(down["--net bridge"]);
row(`${MIB} MiB down, --net user`, du, "MiB/s");
row(`${MIB} MiB down, --net bridge`, db, "MiB/s", `   ${fmt(db.median / du.median)}x user`);
