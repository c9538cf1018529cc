import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { cli, integrationSkipReason, ROOT } from "../helpers.js";

const skip = integrationSkipReason();
const dir = mkdtempSync(path.join(os.tmpdir(), "plinth-check-"));
const env = { PLINTH_HOME: dir };

function spec(name: string, passwordAuthentication: boolean): string {
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    [
      `extends: ${path.join(ROOT, "examples", "minimal.yaml")}`,
      `name: ${name}`,
      `ssh: { PermitRootLogin: "no", PasswordAuthentication: ${passwordAuthentication}, MaxAuthTries: 3 }`,
      "sysctl: { vm.swappiness: 13 }",
      "firewall: { allow: [{ port: 22 }, { port: '3000:3999' }] }",
      "validate:",
      "  boot: { agent_ready_ms: 120000, tcg: { agent_ready_ms: 120000 } }",
      "  idle: { memory_mib: 512 }",
      "  commands: [/usr/lib/plinth/plinth-agent --version, { run: 'cat /etc/os-release', expect: bookworm }]",
      "  sshd: { PasswordAuthentication: no }",
      "  sysctl: { vm.swappiness: 13 }",
      "  users: [agent]",
    ].join("\n") + "\n",
  );
  return file;
}

describe.skipIf(!!skip)("plinth check", () => {
  it("passes an image that meets its spec, and writes JUnit", async () => {
    const junit = path.join(dir, "ok.xml");
    const r = await cli(["check", spec("ok", false), "--junit", junit], env);
    expect(r.stdout).toMatch(/ok 0\.1\.0-\S+: \d+ passed, 0 failed/);
    expect(r.exitCode, r.stdout).toBe(0);
    expect(readFileSync(junit, "utf8")).toMatch(
      /<testsuites tests="\d+" failures="0" skipped="0">/,
    );
  }, 300_000);

  it("fails, with a clear line, when validate: contradicts the spec", async () => {
    const r = await cli(["check", spec("broken", true), "--json"], env);
    expect(r.exitCode).toBe(1);
    const report = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as {
      failed: number;
      results: { group: string; name: string; ok: boolean; expected: string; actual: string }[];
    };
    expect(report.results.filter((x) => !x.ok)).toEqual([
      {
        group: "validate sshd",
        name: "sshd PasswordAuthentication",
        ok: false,
        expected: "no",
        actual: "yes",
      },
    ]);
    const human = await cli(["check", spec("broken", true)], env);
    expect(human.stdout).toMatch(/^FAIL {2}validate sshd: sshd PasswordAuthentication +no +yes$/m);
  }, 300_000);
});
