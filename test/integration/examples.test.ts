import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { validateAgainst } from "../fixtures/firecracker-api.js";
import { cli, integrationSkipReason, ROOT } from "../helpers.js";

const skip = integrationSkipReason();
const env = { PLINTH_HOME: mkdtempSync(path.join(os.tmpdir(), "plinth-examples-")) };
// Exactly the override the seeds' examples are checked with on this Debian-only machine.
const DEBIAN = ["--set", "base.distro=debian", "--set", "base.suite=bookworm"];
const example = (name: string) => path.join(ROOT, "examples", `${name}.yaml`);
/** The examples' extra outputs are there and hold what they say. */
async function expectOutputs(image: string, name: string): Promise<void> {
  const meta = JSON.parse(readFileSync(path.join(image, "metadata.json"), "utf8")) as {
    artifacts: { name: string; kind: string }[];
  };
  const kinds = meta.artifacts.map((a) => a.kind).sort();
  const file = (f: string) => path.join(image, f);
  if (name === "claudeos") {
    expect(kinds).toEqual([
      "disk",
      "initrd",
      "kernel",
      "ova",
      "qcow2",
      "rootfs",
      "sbom",
      "vmdk",
      "vmx",
    ]);
    // The VMDK and the qcow2 hold the raw disk, sector for sector, and are clean.
    for (const [format, f] of [
      ["vmdk", "disk.vmdk"],
      ["qcow2", "disk.qcow2"],
    ] as const) {
      execFileSync("qemu-img", ["compare", "-f", "raw", "-F", format, file("disk.raw"), file(f)]);
      execFileSync("qemu-img", ["check", "-f", format, file(f)]);
    }
    // The OVA: the descriptor first, then the disk and the manifest.
    expect(
      execFileSync("tar", ["-tf", file("claudeos.ova")], { encoding: "utf8" }).split("\n"),
    ).toEqual(["claudeos.ovf", "disk.vmdk", "claudeos.mf", ""]);
  }
  if (name === "lia" || name === "kelpie") {
    expect(kinds).toEqual(["firecracker", "initrd", "kernel", "rootfs", "sbom", "vmlinux"]);
    expectVmlinuxOf(file("vmlinuz"), file("vmlinux"));
    const config = JSON.parse(readFileSync(file("firecracker.json"), "utf8")) as Record<
      string,
      unknown
    >;
    expect(validateAgainst("FullVmConfiguration", config, { closed: true })).toEqual([]);
  }
}

/** `elf` is the x86-64 ELF executable inside the distribution bzImage `vmlinuz`, whole. */
function expectVmlinuxOf(vmlinuz: string, elf: string): void {
  const image = readFileSync(vmlinuz);
  const out = readFileSync(elf);
  // What `file` reports as "ELF 64-bit LSB executable, x86-64".
  expect(out.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
  expect([out[4], out[5], out[6]]).toEqual([2, 1, 1]);
  expect(out.readUInt16LE(16)).toBe(2); // ET_EXEC
  expect(out.readUInt16LE(18)).toBe(62);
  // The kernel build appends the uncompressed size (le32) to the payload it compresses.
  const start = (image[0x1f1]! + 1) * 512 + image.readUInt32LE(0x248);
  const end = start + image.readUInt32LE(0x24c);
  expect(out.length).toBe(image.readUInt32LE(end - 4));
}

/** Prints the VM's ed25519 host key fingerprint, then its machine id. */
const IDENTITY = "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub && cat /etc/machine-id";

/** Two VMs' IDENTITY outputs: each has its own host key and machine id. */
function expectDistinctIdentities(a: string, b: string): void {
  const fingerprint = (out: string) => /SHA256:\S+/.exec(out)?.[0];
  const machineId = (out: string) => out.trim().split("\n").at(-1);
  for (const out of [a, b]) {
    expect(fingerprint(out)).toMatch(/^SHA256:/);
    expect(machineId(out)).toMatch(/^[0-9a-f]{32}$/);
  }
  expect(fingerprint(a)).not.toBe(fingerprint(b));
  expect(machineId(a)).not.toBe(machineId(b));
}

interface Report {
  image: string;
  passed: number;
  failed: number;
  accel: string;
  results: { ok: boolean; group: string; name: string; actual: string; skipped?: string }[];
}

// Each example, built with the Debian override and checked: everything its spec declares
// and its seed's criteria (`validate:`) must pass. The floor on the number of checks
// catches an example whose checks silently went missing.
// ClaudeOS is checked as its seed ships it: booted from its UEFI disk under OVMF.
const EXAMPLES: [string, number, string[]][] = [
  ["bouvet-devbox", 25, []],
  ["lia", 20, []],
  ["kelpie", 9, []],
  ["claudeos", 80, ["--boot", "disk"]],
  ["freestyle", 100, []],
];

describe.skipIf(!!skip)("seed examples: build, then plinth check, with the Debian override", () => {
  afterAll(() => {
    // The images are large; the store goes with the test run anyway, this frees it early.
    rmSync(path.join(env.PLINTH_HOME, "images"), { recursive: true, force: true });
  });

  it.each(EXAMPLES)(
    "%s",
    async (name, atLeast, how) => {
      const r = await cli(["check", example(name), ...DEBIAN, ...how, "--json"], env);
      const report = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as Report;
      expect(report.results.filter((x) => !x.ok)).toEqual([]);
      expect(report.passed).toBeGreaterThanOrEqual(atLeast);
      // Only time and CPU limits go unjudged, and only under TCG.
      const skipped = report.results.filter((x) => x.skipped);
      expect(
        skipped.every((x) => ["boot", "idle"].includes(x.group) && report.accel === "tcg"),
      ).toBe(true);
      expect(r.exitCode).toBe(0);
      await expectOutputs(report.image, name);
    },
    1_800_000,
  );

  it("lia: network and root's SSH key come from the kernel command line, and sshd lets the key in", async () => {
    const key = path.join(mkdtempSync(path.join(os.tmpdir(), "plinth-key-")), "id");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "lia-test", "-f", key]);
    const pub = readFileSync(`${key}.pub`, "utf8").trim();
    const port = 20000 + (process.pid % 20000);
    const append = `plinth.ip=10.0.2.15/24 plinth.gateway=10.0.2.2 plinth.ssh_key="${pub}"`;
    const name = `lia-ssh-${process.pid}`;
    const started = await cli(
      [
        "run",
        "-d",
        "--name",
        name,
        "-p",
        `${port}:22`,
        "--append",
        append,
        example("lia"),
        ...DEBIAN,
      ],
      env,
    );
    expect(started.exitCode, started.stderr).toBe(0);
    try {
      // The agent answers once guest-config is applied; the init starts sshd beside it.
      const up = await cli(
        [
          "exec",
          name,
          "--",
          "sh",
          "-c",
          "for i in $(seq 300); do [ -s /run/sshd.pid ] && exit 0; sleep 0.1; done; exit 1",
        ],
        env,
      );
      expect(up.exitCode, "sshd did not start in 30 s").toBe(0);
      const out = execFileSync(
        "ssh",
        [
          ...["-i", key, "-p", String(port), "-o", "BatchMode=yes"],
          ...["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"],
          "root@127.0.0.1",
          "hostname; ip -4 -o addr show eth0; ip route show default; cat /root/.ssh/authorized_keys",
        ],
        { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
      );
      expect(out).toContain("lia-agent");
      expect(out).toMatch(/inet 10\.0\.2\.15\/24/);
      expect(out).toContain("default via 10.0.2.2 dev eth0");
      expect(out).toContain(pub);

      // Host keys are made on each VM's first boot, none baked into the image: a second
      // VM of the image presents other keys than the first.
      const identity = `for i in $(seq 300); do [ -s /run/sshd.pid ] && break; sleep 0.1; done; ${IDENTITY}`;
      const first = await cli(["exec", name, "--", "sh", "-c", identity], env);
      const second = await cli(
        ["run", "--rm", example("lia"), ...DEBIAN, "--", "sh", "-c", identity],
        env,
      );
      expect(first.exitCode, first.stderr).toBe(0);
      expect(second.exitCode, second.stderr).toBe(0);
      expectDistinctIdentities(first.stdout, second.stdout);
      // And the key sshd presents is the one this VM made.
      const scanned = execFileSync(
        "ssh-keyscan",
        ["-t", "ed25519", "-p", String(port), "127.0.0.1"],
        {
          encoding: "utf8",
          stdio: ["ignore", "pipe", "ignore"],
        },
      );
      const presented = await cli(
        ["exec", name, "--", "cut", "-d", " ", "-f", "2", "/etc/ssh/ssh_host_ed25519_key.pub"],
        env,
      );
      expect(scanned).toContain(presented.stdout.trim());
    } finally {
      await cli(["stop", name], env);
    }
  }, 600_000);

  it("claudeos: on a systemd image guest-config applies the command line too (hostname, a user's key)", async () => {
    const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleExampleExampleExampleExampleEx test";
    const r = await cli(
      [
        "run",
        "--rm",
        "--cpus",
        "2",
        "--append",
        `plinth.hostname=from-cmdline plinth.ssh_user=claude plinth.ssh_key="${key}"`,
        example("claudeos"),
        ...DEBIAN,
        "--",
        "sh",
        "-c",
        "hostname; stat -c '%a %U' /home/claude/.ssh/authorized_keys; cat /home/claude/.ssh/authorized_keys",
      ],
      env,
    );
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual(["from-cmdline", "600 claude", key]);
  }, 600_000);

  it("claudeos: two VMs of one systemd image make their own host keys and machine ids", async () => {
    const identity = `systemctl start ssh.service && ${IDENTITY}`;
    const run = () =>
      cli(["run", "--rm", example("claudeos"), ...DEBIAN, "--", "sh", "-c", identity], env);
    const [a, b] = [await run(), await run()];
    expect(a.exitCode, a.stderr).toBe(0);
    expect(b.exitCode, b.stderr).toBe(0);
    expectDistinctIdentities(a.stdout, b.stdout);
  }, 600_000);
});
