import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureImage } from "../../src/builder/build.js";
import { CLI, integrationSkipReason, ROOT } from "../helpers.js";
import { makeLab, peerServer, type Lab } from "../netns.js";

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
  /** What of plinth's is in the host namespace: TAPs on the bridge, nft text, leases. */
  const leftovers = () => ({
    taps: lab.sh(lab.host, ["ip", "-o", "link", "show", "type", "tun"]),
    nft: lab.sh(lab.host, ["nft", "list", "ruleset"]),
    leases: JSON.parse(readFileSync(path.join(home, "net", "plinth0", "network.json"), "utf8"))
      .leases as Record<string, { vm: string; tap: string }>,
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
    // guest-config runs beside the agent: wait for the address (and sshd) to be there.
    const up = await exec(
      name,
      "for i in $(seq 300); do ip -4 -o addr show eth0 | grep -q inet && [ -s /run/sshd.pid ] && exit 0; sleep 0.1; done; exit 1",
    );
    expect(up.exitCode, `${name}: no address or sshd after 30 s`).toBe(0);
    return (await ps()).find((v) => v.name === name)!.network!;
  };
  /** bash's /dev/tcp from the guest: the first line the other end sends, or "refused". */
  const connect = (to: string, port: number) =>
    `timeout 4 bash -c 'exec 3<>/dev/tcp/${to}/${port}; head -n1 <&3' 2>/dev/null || echo refused`;

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
  afterAll(async () => {
    for (const vm of await ps().catch(() => [])) await plinth(["stop", vm.name]);
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
    expect((await exec("net-a", connect(b.ip, 22))).stdout).toMatch(/^SSH-2\.0-/);
    expect((await exec("net-b", connect(a.ip, 22))).stdout).toMatch(/^SSH-2\.0-/);
    // The outside sees the host's uplink address, never a VM's.
    expect((await exec("net-a", connect(lab.server, 8080))).stdout).toBe(`peer ${lab.uplink}`);
    expect((await exec("net-b", connect(lab.server, 8080))).stdout).toBe(`peer ${lab.uplink}`);
    expect(server.seen().filter((l) => l.startsWith("8080"))).toEqual([
      `8080 ${lab.uplink}`,
      `8080 ${lab.uplink}`,
    ]);
    // From the bridge's side, root logs in to A with the key given on the kernel command line.
    const ssh = lab.sh(lab.host, [
      "ssh",
      ...["-i", key, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"],
      ...["-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10"],
      `root@${a.ip}`,
      "hostname; ip -4 -o addr show eth0; ip route show default; cat /etc/resolv.conf",
    ]);
    expect(ssh).toContain("lia-agent");
    expect(ssh).toContain(`inet ${a.ip}/24`);
    expect(ssh).toContain("default via 10.213.0.1 dev eth0");
    expect(ssh).toContain(`nameserver ${lab.server}`);

    // The bridge is not removed from under running VMs.
    const busy = await plinth(["net", "down"]);
    expect(busy.exitCode).toBe(2);
    expect(busy.stderr).toContain("VMs still run on plinth0: net-a, net-b.");

    for (const vm of ["net-a", "net-b"]) expect((await plinth(["stop", vm])).exitCode).toBe(0);
    const left = leftovers();
    expect(left.leases).toEqual({});
    for (const n of [a, b]) {
      expect(left.taps).not.toContain(n.tap);
      expect(left.nft).not.toContain(n.tap);
      expect(left.nft).not.toContain(n.ip);
    }
  }, 600_000);

  it("--allow-egress SERVER:8080: 8080 passes, 8081 and others are refused, DNS to the resolver passes; root in the guest cannot lift it", async () => {
    const c = await start("net-c", "--allow-egress", `${lab.server}:8080`);
    const d = await start("net-d", "--allow-egress", `${lab.server}:8080`, "--deny-egress", "all");
    const udp53 = `python3 -c "
import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
s.sendto(b'q', ('${lab.server}', 53))
try: print(s.recv(16).decode())
except OSError: print('no answer')"`;
    const asRoot = (vm: string, script: string) =>
      exec(vm, `[ "$(id -u)" = 0 ] || exit 9; ${script}`);
    expect((await asRoot("net-c", connect(lab.server, 8080))).stdout).toBe(`peer ${lab.uplink}`);
    expect((await asRoot("net-c", connect(lab.server, 8081))).stdout).toBe("refused");
    expect((await asRoot("net-c", connect(d.ip, 22))).stdout).toBe("refused");
    expect((await asRoot("net-c", udp53)).stdout).toBe("q");
    // --deny-egress all: DNS too needs a rule.
    expect((await asRoot("net-d", udp53)).stdout).toBe("no answer");
    expect((await asRoot("net-d", connect(lab.server, 8080))).stdout).toBe(`peer ${lab.uplink}`);
    // Root takes another address (a free one, then another VM's): its frames are dropped.
    for (const other of ["10.213.0.250", d.ip]) {
      const spoofed = await asRoot(
        "net-c",
        `ip addr flush dev eth0 && ip addr add ${other}/24 dev eth0 && ip route add default via 10.213.0.1 && ${connect(lab.server, 8081)}; ${connect(lab.server, 8080)}`,
      );
      expect(spoofed.stdout.split("\n")).toEqual(["refused", "refused"]);
    }
    // Its own address back but another MAC: dropped too; its own MAC back: 8080 passes again.
    const mac = await asRoot(
      "net-c",
      `ip addr flush dev eth0 && ip addr add ${c.ip}/24 dev eth0 && ip route add default via 10.213.0.1 && ip link set eth0 address 02:00:00:00:00:01 && ${connect(lab.server, 8080)}; ip link set eth0 address ${c.mac} && ${connect(lab.server, 8080)}`,
    );
    expect(mac.stdout.split("\n")).toEqual(["refused", `peer ${lab.uplink}`]);
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
      const nic = (await ps()).find((v) => v.name === name)!.network!;
      child.kill("SIGKILL");
      // QEMU goes with it (pdeathsig); the TAP and its rules stay behind.
      for (let i = 0; i < 100 && (await ps()).some((v) => v.name === name); i++)
        await new Promise((r) => setTimeout(r, 100));
      expect(leftovers().taps).toContain(nic.tap);
      return nic;
    };
    const k1 = await killed("net-k1");
    const e = await start("net-e");
    const left = leftovers();
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
    expect(existsSync(path.join(home, "net", "plinth0"))).toBe(false);
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
    expect(existsSync(path.join(home, "net", "theirs0"))).toBe(false);
    for (const [args, message] of [
      [["--allow-egress", "example.com:443"], '"example.com:443" is not an egress rule'],
      [
        ["--net", "bridge", "--subnet", "10.0.0.0/8"],
        'The subnet "10.0.0.0/8" is not an IPv4 network',
      ],
      [["--net", "bridge", "-p", "2222:22"], "-p forwards ports of QEMU's user-mode network"],
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
