import { describe, expect, it } from "vitest";
import { planChecks, type CheckContext } from "../../src/check/checks.js";
import { formatTable, toJUnit } from "../../src/check/report.js";
import type { CheckReport } from "../../src/check/run.js";
import { SpecSchema } from "../../src/spec/schema.js";
import { ext4Of } from "../helpers.js";

const cleanRootfs = ext4Of({ "etc/machine-id": "", "etc/ssh/sshd_config": "" });

const spec = SpecSchema.parse({
  name: "t",
  version: "1.0.0",
  base: { distro: "debian", suite: "bookworm" },
  init: "systemd",
  users: [{ name: "dev", uid: 1000 }],
  directories: [{ path: "/work" }, { path: "/mnt/tmp" }],
  mounts: [{ source: "tmpfs", target: "/mnt/tmp", type: "tmpfs" }],
  services: { enable: ["ssh"], mask: ["apt-daily.timer"] },
  ssh: { PasswordAuthentication: false },
  firewall: { allow: [{ port: "3000:3999" }] },
  validate: { boot: { agent_ready_ms: 100 }, commands: ["true"], ports: { listening: [22] } },
});

describe("planChecks", () => {
  it("derives checks from what the spec declares and its validate: section", () => {
    expect(planChecks(spec).map((c) => `${c.group}: ${c.name} = ${c.expected}`)).toEqual([
      "boot: boot-to-agent-ready = <= 100 ms",
      "image: per-machine identity (SSH host keys, machine id, seeds) = none in the image",
      "users: user dev = exists",
      "users: dev uid = 1000",
      "directories: /work = 755",
      "services: ssh.service enabled = enabled",
      "services: apt-daily.timer masked = masked",
      "ssh: sshd PasswordAuthentication = no",
      "firewall: input policy = drop",
      "firewall: allow tcp/3000-3999 = rule present",
      "mounts: /mnt/tmp = tmpfs",
      "commands: true = exit 0",
      "ports: port 22 = listening",
    ]);
  });

  it("compares effective values from the guest", async () => {
    const outputs: Record<string, string> = {
      "mkdir -p /run/sshd && /usr/sbin/sshd -T": "port 22\npasswordauthentication yes\n",
      "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null":
        "  sl  local_address rem_address   st\n   0: 00000000:0016 00000000:0000 0A 00000000:00000000\n",
    };
    const ctx: CheckContext = {
      bootMs: 250,
      rootfsBytes: 1,
      rootfsFile: cleanRootfs,
      allServicesMs: 300,
      systemState: "running",
      accel: "kvm",
      sh: async (cmd) => ({ exitCode: 0, stdout: outputs[cmd] ?? "", stderr: "" }),
    };
    const byName = Object.fromEntries(
      await Promise.all(planChecks(spec).map(async (c) => [c.name, await c.run(ctx)])),
    );
    expect(byName["sshd PasswordAuthentication"]).toEqual({ ok: false, actual: "yes" });
    expect(byName["port 22"]).toEqual({ ok: true, actual: "listening" });
    expect(byName["boot-to-agent-ready"]).toEqual({ ok: false, actual: "250 ms" });
    expect(byName["per-machine identity (SSH host keys, machine id, seeds)"]).toMatchObject({
      ok: true,
    });
  });

  it("judges a time limit on the accelerator it is for: under TCG only with a TCG limit", async () => {
    const timed = (boot: object) =>
      planChecks(SpecSchema.parse({ ...spec, validate: { boot } })).find(
        (c) => c.name === "boot-to-agent-ready",
      )!;
    const ctx = (accel: "kvm" | "tcg") =>
      ({ bootMs: 31_600, accel, sh: async () => ({}) }) as unknown as CheckContext;
    const kvmOnly = timed({ agent_ready_ms: 30_000 });
    expect(await kvmOnly.run(ctx("kvm"))).toEqual({ ok: false, actual: "31600 ms" });
    expect(await kvmOnly.run(ctx("tcg"))).toEqual({
      ok: true,
      actual: "31600 ms",
      skipped:
        "not judged (TCG): the limit is for KVM; set validate.boot.tcg.agent_ready_ms to judge it under TCG",
    });
    const both = timed({ agent_ready_ms: 30_000, tcg: { agent_ready_ms: 30_000 } });
    expect(both.expected).toBe("<= 30000 ms, TCG <= 30000 ms");
    expect(await both.run(ctx("tcg"))).toEqual({ ok: false, actual: "31600 ms" });
    expect(
      await timed({ agent_ready_ms: 1, tcg: { agent_ready_ms: 40_000 } }).run(ctx("tcg")),
    ).toEqual({ ok: true, actual: "31600 ms" });
  });
});

describe("reports", () => {
  const report: CheckReport = {
    image: "/img",
    name: "t",
    version: "1.0.0-20260101-nogit",
    accel: "tcg",
    bootMs: 5000,
    passed: 1,
    failed: 1,
    skipped: 1,
    results: [
      {
        group: "ssh",
        name: "sshd PasswordAuthentication",
        ok: false,
        expected: "no",
        actual: "yes",
      },
      {
        group: "commands",
        name: "echo '<&>'",
        ok: true,
        expected: "exit 0",
        actual: "exit 0: <&>",
      },
      {
        group: "boot",
        name: "boot-to-agent-ready",
        ok: true,
        expected: "<= 30000 ms",
        actual: "31600 ms",
        skipped: "not judged (TCG)",
      },
    ],
  };

  it("prints a table with pass/fail, expected and actual", () => {
    const lines = formatTable(report);
    expect(lines[1]).toMatch(/^FAIL {2}ssh: sshd PasswordAuthentication +no +yes$/);
    expect(lines[3]).toMatch(
      /^skip {2}boot: boot-to-agent-ready +<= 30000 ms +31600 ms \(not judged \(TCG\)\)$/,
    );
    expect(lines.at(-1)).toBe(
      "t 1.0.0-20260101-nogit: 1 passed, 1 failed, 1 not judged (TCG: the limits are for KVM) (boot-to-agent-ready 5000 ms, tcg)",
    );
  });

  it("writes escaped JUnit XML with one testcase per check", () => {
    const x = toJUnit(report);
    expect(x).toContain('<testsuites tests="3" failures="1" skipped="1">');
    expect(x).toContain('<skipped message="31600 ms: not judged (TCG)"/>');
    expect(x).toContain('<failure message="expected no, got yes"/>');
    expect(x).toContain('name="echo &apos;&lt;&amp;&gt;&apos;"');
  });

  it("validate.files checks only what it is given: existence, then type, mode and owner", async () => {
    const files = SpecSchema.parse({
      ...spec,
      validate: {
        files: [
          { path: "/etc/motd" },
          { path: "/work", type: "dir" },
          { path: "/etc/shadow", mode: "0640", owner: "root:shadow" },
          { path: "/missing" },
        ],
      },
    });
    const stat: Record<string, string> = {
      "/etc/motd": "regular file|600|root:root",
      "/work": "directory|700|dev:dev",
      "/etc/shadow": "regular file|640|root:shadow",
    };
    const ctx: CheckContext = {
      bootMs: 1,
      rootfsBytes: 1,
      rootfsFile: cleanRootfs,
      allServicesMs: 1,
      systemState: "running",
      accel: "kvm",
      sh: async (cmd) => {
        const path = /'([^']+)'$/.exec(cmd)?.[1] ?? "";
        return stat[path]
          ? { exitCode: 0, stdout: `${stat[path]}\n`, stderr: "" }
          : { exitCode: 1, stdout: "", stderr: `stat: cannot statx '${path}': No such file` };
      },
    };
    const checks = planChecks(files).filter((c) => c.group === "validate files");
    const results = await Promise.all(checks.map(async (c) => [c.expected, await c.run(ctx)]));
    expect(results).toEqual([
      ["exists", { ok: true, actual: "exists" }],
      ["dir", { ok: true, actual: "dir" }],
      ["640 root:shadow", { ok: true, actual: "640 root:shadow" }],
      ["exists", { ok: false, actual: "(failed: stat: cannot statx '/missing': No such file)" }],
    ]);
  });
});
