import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { cli, tempFiles } from "./helpers.js";

describe("plinth CLI", () => {
  it("validate: a good spec passes", async () => {
    const r = await cli(["validate", "examples/minimal.yaml"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^examples\/minimal\.yaml: ok \(minimal 0\.1\.0/);
    expect(r.exitCode).toBe(0);
  });

  it("validate: a bad spec prints every problem with its position and exits 2", async () => {
    const dir = tempFiles({
      "bad.yaml": "name: demo\nversion: one\nbase:\n  distro: debian\n  suite: bookworm\nfoo: 1\n",
    });
    const r = await cli(["validate", path.join(dir, "bad.yaml")]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("bad.yaml:2:10: version: must be a semantic version such as 1.2.3");
    expect(r.stderr).toContain('bad.yaml:6:1: unknown key "foo"');
    expect(r.stderr).toContain("2 problem(s) found; nothing was built.");
  });

  it("build: a bad spec fails fast, exits 2 and leaves no image behind", async () => {
    const dir = tempFiles({
      "bad.yaml": "name: demo\nversion: 1.0.0\nbase:\n  distro: debian\n  suite: 12\n",
    });
    const out = path.join(dir, "out");
    const t0 = performance.now();
    const r = await cli(["build", path.join(dir, "bad.yaml"), "-o", out, "--json"], {
      PLINTH_HOME: dir,
    });
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(r.exitCode).toBe(2);
    const last = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as {
      error: { code: string; lines: string[] };
    };
    expect(last.error.code).toBe("SPEC_INVALID");
    expect(last.error.lines[0]).toMatch(
      /bad\.yaml:5:10: base\.suite: write the suite as a quoted string \("12"\)/,
    );
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(["bad.yaml"]);
  });

  it("build: alpine is refused in one sentence with exit 2", async () => {
    const dir = tempFiles({
      "a.yaml": "name: a\nversion: 1.0.0\nbase:\n  distro: alpine\n  suite: '3.19'\n",
    });
    const r = await cli(["build", path.join(dir, "a.yaml")], { PLINTH_HOME: dir });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/^plinth: error: Alpine bootstrap is not implemented yet/);
  });

  it("usage errors exit 2", async () => {
    expect((await cli(["build"])).exitCode).toBe(2);
    expect((await cli(["run", "x", "--accel", "fast"])).exitCode).toBe(2);
  });

  it("run: an unknown image is a clear error", async () => {
    const dir = tempFiles({});
    const r = await cli(["run", "nonexistent:1.0"], { PLINTH_HOME: dir });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('No image "nonexistent:1.0"');
  });

  it("doctor --json lists every tool and the KVM verdict", async () => {
    const r = await cli(["doctor", "--json"]);
    const report = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as {
      tools: { name: string; found: boolean; optional: boolean }[];
      kvm: { status: string };
      missingPackages: string[];
    };
    expect(report.tools.map((t) => t.name)).toEqual(
      expect.arrayContaining([
        "mmdebstrap",
        "mke2fs",
        "resize2fs",
        "e2fsck",
        "debugfs",
        "qemu-system-x86_64",
        "qemu-img",
        "cpio",
      ]),
    );
    expect(["usable", "unusable", "absent", "unknown"]).toContain(report.kvm.status);
    expect(report.tools.find((t) => t.name === "ubuntu-keyring")?.optional).toBe(true);
    expect(r.exitCode).toBe(report.missingPackages.length ? 2 : 0);
    const human = await cli(["doctor"]);
    expect(human.stdout).toMatch(
      report.kvm.status === "usable" ? /KVM usable/ : /TCG will be used/,
    );
  });
});
