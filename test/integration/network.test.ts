import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ensureImage } from "../../src/builder/build.js";
import { CLI, integrationSkipReason, ROOT } from "../helpers.js";
import { makeLab, peerServer, SERVER, type Lab } from "../netns.js";

// Bridge networking, end to end: plinth runs inside a namespace the test made (`lab.host`),
// whose uplink is a veth to a second one (`lab.outside`) where a peer server stands for
// the internet. Nothing here touches the host's own namespace.

const skip = integrationSkipReason();
const home = mkdtempSync(path.join(os.tmpdir(), "plinth-net-"));
const env = { ...process.env, PLINTH_HOME: home };
const LIA = path.join(ROOT, "examples", "lia.yaml");

describe.skipIf(!!skip)("--net bridge (in a network namespace of the test's own)", () => {
  let lab: Lab;
  let server: Awaited<ReturnType<typeof peerServer>>;
  let image = "";
  let key = "";
  let pub = "";
  /** The plinth CLI inside the lab's host namespace. */
  const plinth = async (args: string[]) => {
    const r = await execa("ip", ["netns", "exec", lab.host, "node", ...CLI, ...args], {
      env,
      reject: false,
    });
    return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
  };
  const exec = async (vm: string, script: string) =>
    plinth(["exec", vm, "--", "bash", "-c", script]);
  const ps = async () =>
    JSON.parse((await plinth(["ps", "--json"])).stdout) as {
      name: string;
      network?: { ip: string; tap: string; mac: string };
      agent?: unknown;
    }[];
  /** The bridges plinth has state for (`plinth net ls --json`). */
  const networks = async () =>
    (
      JSON.parse((await plinth(["net", "ls", "--json"])).stdout) as {
        networks: { bridge: string; leases: Record<string, { vm: string; tap: string }> }[];
      }
    ).networks;
  /** What of plinth's is in the host namespace: TAPs, nft text, plinth0's leases. */
  const leftovers = async () => ({
    taps: lab.sh(lab.host, ["ip", "-o", "link", "show", "type", "tun"]),
    nft: lab.sh(lab.host, ["nft", "list", "ruleset"]),
    leases: (await networks()).find((n) => n.bridge === "plinth0")?.leases ?? {},
  });
  const start = async (name: string, ...args: string[]) => {
    const r = await plinth([
      "run",
      "-d",
      "--name",
      name,
      "--net",
      "bridge",
      "--dns",
      lab.server,
      ...args,
      image,
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    // sshd starts after the agent answers: wait for the address and for port 22 (0016)
    // to be listening (0A) in the kernel's own table, not for sshd's pid file.
    const up = await exec(
      name,
      "for i in $(seq 300); do ip -4 -o addr show eth0 | grep -q inet && grep -q ':0016 00000000:0000 0A' /proc/net/tcp && exit 0; sleep 0.1; done; exit 1",
    );
    expect(up.exitCode, `${name}: no address or no sshd listening after 30 s`).toBe(0);
    return (await ps()).find((v) => v.name === name)!.network!;
  };
  /**
   * bash's /dev/tcp from the guest: the first line the other end sends, or how it failed:
   * "refused" (a TCP reset: refused at once), "unreachable" (no neighbour answered, or an
   * ICMP error) or "timeout" (dropped: nothing came back in 6 s).
   */
  const connect = (to: string, port: number) =>
    `out=$(timeout 6 bash -c 'exec 3<>/dev/tcp/${to}/${port} && head -n1 <&3' 2>/tmp/err); rc=$?; ` +
    `if [ -n "$out" ]; then echo "$out"; elif [ $rc = 124 ]; then echo timeout; ` +
    `elif grep -q refused /tmp/err; then echo refused; else echo unreachable; fi`;
  /** A UDP datagram from the guest to the outside's port 53 (logged there), and its echo or "no answer". */
  const udp53 = `python3 -c "
import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
s.sendto(b'q', ('${SERVER}', 53))
try: print(s.recv(16).decode())
except OSError: print('no answer')"`;
  const udpSeen = () => server.seen().filter((l) => l.startsWith("53 ")).length;

  beforeAll(async () => {
    process.env.PLINTH_HOME = home;
    image = (
      await ensureImage({
        specFile: LIA,
        sets: ["base.distro=debian", "base.suite=bookworm"],
      })
    ).imageDir;
    key = path.join(mkdtempSync(path.join(os.tmpdir(), "plinth-key-")), "id");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "net-test", "-f", key]);
    pub = readFileSync(`${key}.pub`, "utf8").trim();
    lab = makeLab("net");
    server = await peerServer(lab, [8080, 8081]);
  });
  // A test that fails midway leaves its VMs: stop them, so the next test starts clean.
  const stopAll = async () => {
    for (const vm of await ps().catch(() => [])) await plinth(["stop", vm.name]);
  };
  afterEach(stopAll);
  afterAll(async () => {
    await plinth(["net", "down"]);
    server?.stop();
    lab?.destroy();
    delete process.env.PLINTH_HOME;
  });

  it("Lia's image: two VMs get distinct leases, reach each other, reach the outside only through NAT, and sshd takes the key from the command line; stop frees it all", async () => {
    const a = await start("net-a", "--append", `plinth.ssh_key="${pub}"`);
    const b = await start("net-b");
    expect(a.ip).toMatch(/^10\.213\.0\.\d+$/);
    expect(b.ip).toMatch(/^10\.213\.0\.\d+$/);
    expect(a.ip).not.toBe(b.ip);
    // Each reaches the other's sshd across the bridge.
    for (const [from, to, ip] of [
      ["net-a", "net-b", b.ip!],
      ["net-b", "net-a", a.ip!],
    ] as const) {
      const got = (await exec(from, connect(ip, 22))).stdout;
      // On a failure, say what the other side was listening on then.
      const listens = /^SSH-2\.0-/.test(got)
        ? ""
        : (await exec(to, "grep ' 0A ' /proc/net/tcp")).stdout;
      expect(got, `${from} → ${to}:22; ${to} listens on: ${listens}`).toMatch(/^SSH-2\.0-/);
    }
    // The outside sees the host's uplink address, never a VM's.
    expect((await exec("net-a", connect(lab.server, 8080))).stdout).toBe(`peer ${lab.uplink}`);
    expect((await exec("net-b", connect(lab.server, 8080))).stdout).toBe(`peer ${lab.uplink}`);
    expect(server.seen().filter((l) => l.startsWith("8080"))).toEqual([
      `8080 ${lab.uplink}`,
      `8080 ${lab.uplink}`,
    ]);
    // From the bridge's side, root logs in to A with the key given on the kernel command line.
    const sshArgs = [
      "ssh",
      ...["-i", key, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"],
      ...["-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10"],
    ];
    const ssh = lab.sh(lab.host, [
      ...sshArgs,
      `root@${a.ip}`,
      "hostname; ip -4 -o addr show eth0; ip route show default; cat /etc/resolv.conf",
    ]);
    expect(ssh).toContain("lia-agent");
    expect(ssh).toContain(`inet ${a.ip}/24`);
    expect(ssh).toContain("default via 10.213.0.1 dev eth0");
    expect(ssh).toContain(`nameserver ${lab.server}`);
    // sshd outlives the agent's start-up time limits (it once was killed 60 s after it
    // started): wait until it is 65 s old, then log in again.
    const aged = await exec(
      "net-a",
      "for i in $(seq 90); do [ $(( $(date +%s) - $(stat -c %Y /run/sshd.pid) )) -ge 65 ] && exit 0; sleep 1; done; exit 1",
    );
    expect(aged.exitCode, aged.stderr).toBe(0);
    expect(lab.sh(lab.host, [...sshArgs, `root@${a.ip}`, "echo still here"])).toContain(
      "still here",
    );

    // The bridge is not removed from under running VMs.
    const busy = await plinth(["net", "down"]);
    expect(busy.exitCode).toBe(2);
    expect(busy.stderr).toContain("VMs still run on plinth0: net-a, net-b.");

    for (const vm of ["net-a", "net-b"]) expect((await plinth(["stop", vm])).exitCode).toBe(0);
    const left = await leftovers();
    expect(left.leases).toEqual({});
    for (const n of [a, b]) {
      expect(left.taps).not.toContain(n.tap);
      expect(left.nft).not.toContain(n.tap);
      expect(left.nft).not.toContain(n.ip);
    }
  }, 600_000);

  it("--allow-egress SERVER:8080: 8080 passes, 8081 and other VMs are refused, DNS to the resolver passes; root in the guest cannot lift it", async () => {
    const c = await start("net-c", "--allow-egress", `${lab.server}:8080`);
    // A firewall reload drops every table: the next start makes plinth's again, with the
    // rules of the VM already running (all the checks below run on remade rules).
    lab.sh(lab.host, ["nft", "flush", "ruleset"]);
    const d = await start("net-d", "--allow-egress", `${lab.server}:8080`, "--deny-egress", "all");
    expect(lab.sh(lab.host, ["nft", "list", "ruleset"])).toContain(`vm_${c.tap}`);
    const asRoot = (vm: string, script: string) =>
      exec(vm, `[ "$(id -u)" = 0 ] || exit 9; ${script}`);
    const out = async (vm: string, script: string) => (await asRoot(vm, script)).stdout;
    expect(await out("net-c", connect(lab.server, 8080))).toBe(`peer ${lab.uplink}`);
    // Refused on the host at once (a TCP reset), not left to time out.
    expect(await out("net-c", connect(lab.server, 8081))).toBe("refused");
    // Another VM on the bridge has no rule: its frames are dropped on the bridge.
    expect(await out("net-c", connect(d.ip, 22))).toBe("timeout");
    expect(await out("net-c", udp53)).toBe("q");
    // --deny-egress all: DNS too needs a rule.
    const before = udpSeen();
    expect(await out("net-d", udp53)).toBe("no answer");
    expect(udpSeen()).toBe(before);
    expect(await out("net-d", connect(lab.server, 8080))).toBe(`peer ${lab.uplink}`);

    // Root takes a free address, which no rule names: without the TAP's anti-spoofing its
    // datagrams would leave unfiltered (the outside logs every one it gets); they do not,
    // and neither does a connection to 8081.
    const seen = udpSeen();
    const spoofed = await asRoot(
      "net-c",
      `ip addr flush dev eth0 && ip addr add 10.213.0.250/24 dev eth0 && ip route add default via 10.213.0.1 && ${udp53}; ${connect(lab.server, 8081)}`,
    );
    // (Its ARP, from an address not its own, is dropped too: no neighbour answers it.)
    expect(spoofed.stdout.split("\n")).toEqual(["no answer", "unreachable"]);
    // Its own address back with another MAC: DNS, which its address may send, is dropped
    // at the TAP too; with its own MAC back, DNS and 8080 pass again.
    const mac = await asRoot(
      "net-c",
      `ip addr flush dev eth0 && ip addr add ${c.ip}/24 dev eth0 && ip route add default via 10.213.0.1 && ip link set eth0 address 02:00:00:00:00:01 && ${udp53}; ip link set eth0 address ${c.mac} && ${udp53}; ${connect(lab.server, 8080)}`,
    );
    expect(mac.stdout.split("\n")).toEqual(["no answer", "q", `peer ${lab.uplink}`]);
    expect(udpSeen()).toBe(seen + 1);
    expect(server.seen()).not.toContain(`8081 ${lab.uplink}`);
    for (const vm of ["net-c", "net-d"]) expect((await plinth(["stop", vm])).exitCode).toBe(0);
  }, 600_000);

  it("after plinth is SIGKILLed, the next start frees what its VM held, and `net down` removes the bridge, its rules and the forwarding it turned on", async () => {
    const killed = async (name: string) => {
      const child = spawn(
        "ip",
        [
          "netns",
          "exec",
          lab.host,
          "node",
          ...CLI,
          "run",
          "--net",
          "bridge",
          "--name",
          name,
          image,
          "--",
          "sleep",
          "600",
        ],
        { env, stdio: "ignore" },
      );
      // Booted once the agent said hello (recorded in its state); an exec from here would
      // wait for the run's own agent connection.
      for (let i = 0; i < 600 && !(await ps()).find((v) => v.name === name)?.agent; i++)
        await new Promise((r) => setTimeout(r, 200));
      const vm = (await ps()).find((v) => v.name === name);
      expect(vm?.agent, `${name} did not boot`).toBeTruthy();
      const nic = vm!.network!;
      child.kill("SIGKILL");
      // QEMU goes with it (pdeathsig); the TAP and its rules stay behind.
      for (let i = 0; i < 100 && (await ps()).some((v) => v.name === name); i++)
        await new Promise((r) => setTimeout(r, 100));
      expect((await ps()).map((v) => v.name)).not.toContain(name);
      const left = await leftovers();
      expect(left.taps).toContain(nic.tap);
      expect(left.nft).toContain(nic.tap);
      return nic;
    };
    const k1 = await killed("net-k1");
    const e = await start("net-e");
    const left = await leftovers();
    expect(Object.values(left.leases).map((l) => l.vm)).toEqual(["net-e"]);
    // The killed VM's address went back to the pool, and the new VM took it.
    expect(e.ip).toBe(k1.ip);
    expect((await plinth(["stop", "net-e"])).exitCode).toBe(0);

    const k2 = await killed("net-k2");
    const down = await plinth(["net", "down", "--json"]);
    expect(down.exitCode, down.stderr).toBe(0);
    expect(JSON.parse(down.stdout.trim().split("\n").at(-1)!)).toMatchObject({
      bridge: "plinth0",
      removed: true,
      freed: ["net-k2"],
      taps: [k2.tap],
      forwardingRestored: true,
    });
    expect(lab.sh(lab.host, ["ip", "-o", "link"])).not.toMatch(/plinth0|pt[0-9a-f]{8}/);
    expect(lab.sh(lab.host, ["nft", "list", "ruleset"])).not.toContain("plinth_");
    expect(lab.sh(lab.host, ["cat", "/proc/sys/net/ipv4/ip_forward"]).trim()).toBe("0");
    expect(await networks()).toEqual([]);
    const again = await plinth(["net", "down"]);
    expect([again.exitCode, again.stdout]).toEqual([
      0,
      "plinth has no bridge plinth0 here: nothing to remove",
    ]);
  }, 600_000);

  it("a bridge plinth did not make is neither used nor removed; bad flags are one sentence, and no VM is left", async () => {
    lab.sh(lab.host, ["ip", "link", "add", "theirs0", "type", "bridge"]);
    const used = await plinth([
      "run",
      "--net",
      "bridge",
      "--bridge",
      "theirs0",
      image,
      "--",
      "true",
    ]);
    expect(used.exitCode).toBe(2);
    expect(used.stderr).toContain("The bridge theirs0 exists and plinth did not make it.");
    const down = await plinth(["net", "down", "--bridge", "theirs0"]);
    expect(down.exitCode).toBe(2);
    expect(lab.sh(lab.host, ["ip", "-o", "link", "show", "theirs0"])).toContain("theirs0");
    expect(await networks()).toEqual([]);
    for (const [args, message] of [
      [["--allow-egress", "example.com:443"], '"example.com:443" is not an egress rule'],
      [
        ["--net", "bridge", "--subnet", "10.0.0.0/8"],
        'The subnet "10.0.0.0/8" is not an IPv4 network',
      ],
      [["--net", "bridge", "-p", "2222:22"], "-p forwards ports of QEMU's user-mode network"],
      [["--net", "bridge", "--append", "plinth.ip=10.0.0.9/24"], "--append cannot set them too"],
      [["--bridge", "other0", "--subnet", "203.0.113.0/25"], "overlaps 203.0.113.0/24 on up0"],
      [
        ["--net", "bridge", "--boot", "disk"],
        "--net bridge gives the guest its address on the kernel command line",
      ],
    ] as const) {
      const r = await plinth(["run", ...args, image, "--", "true"]);
      expect(r.exitCode, args.join(" ")).toBe(2);
      expect(r.stderr).toContain(message);
    }
    expect((await plinth(["ps", "-a", "--json"])).stdout.trim()).toBe("[]");
    lab.sh(lab.host, ["ip", "link", "del", "theirs0"]);
  }, 120_000);
});
