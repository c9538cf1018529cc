import { existsSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { cli, keptVm, tempFiles } from "./helpers.js";

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
    expect(r.stderr).toContain("2 problems found; nothing was built.");
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

  it("usage errors exit 2, help and --version 0", async () => {
    expect((await cli(["build"])).exitCode).toBe(2);
    expect((await cli(["run", "x", "--accel", "fast"])).exitCode).toBe(2);
    expect((await cli(["stop"])).exitCode).toBe(2);
    expect((await cli(["stop", "-t", "soon", "x"])).exitCode).toBe(2);
    expect((await cli(["exec", "x"])).exitCode).toBe(2);
    expect((await cli(["--version"])).exitCode).toBe(0);
  });

  describe("VM commands without a running VM", () => {
    /** A PLINTH_HOME holding VM "old": stopped by plinth, its state kept (console log too). */
    const homeWithKeptVm = () => {
      const home = tempFiles({});
      const dir = keptVm(home, "old", "booting\r\nplinth-init: starting agent\r\n");
      return { home, dir };
    };
    const lastJson = <T>(stdout: string) => JSON.parse(stdout.trim().split("\n").at(-1)!) as T;
    interface StopJson {
      ok: boolean;
      vms: {
        name: string;
        result: string;
        stoppedBy?: string;
        stateRemoved: boolean;
        error?: { code: string; message: string };
      }[];
    }

    it("stop: an unknown name is one error line and exit 2", async () => {
      const home = tempFiles({});
      const r = await cli(["stop", "nope"], { PLINTH_HOME: home });
      expect(r.exitCode).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(/^plinth: error: nope: .*"nope"/);
    });

    it("stop: every name is attempted; a kept VM's state goes, the unknown one is reported", async () => {
      const { home, dir } = homeWithKeptVm();
      const r = await cli(["stop", "nope", "old"], { PLINTH_HOME: home });
      expect(r.exitCode).toBe(2);
      expect(r.stdout).toBe("old: was not running");
      expect(r.stderr).toMatch(/plinth: error: nope: /);
      expect(existsSync(dir)).toBe(false);
    });

    it("stop --json: one outcome per name, in order", async () => {
      const { home, dir } = homeWithKeptVm();
      const r = await cli(["stop", "old", "nope", "--json"], { PLINTH_HOME: home });
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toBe("");
      const out = lastJson<StopJson>(r.stdout);
      expect(out.ok).toBe(false);
      expect(out.vms).toEqual([
        { name: "old", result: "not-running", stoppedBy: "gone", stateRemoved: true },
        {
          name: "nope",
          result: "failed",
          stateRemoved: false,
          error: expect.objectContaining({ code: "NOT_FOUND" }) as unknown,
        },
      ]);
      expect(existsSync(dir)).toBe(false);
    });

    it("stop --json: an invalid name is the user's (2); state it cannot remove is not (1)", async () => {
      const { home, dir } = homeWithKeptVm();
      writeFileSync(path.join(dir, "notes.txt"), "not plinth's");
      const r = await cli(["stop", "..", "old", "--json"], { PLINTH_HOME: home });
      expect(r.exitCode).toBe(1);
      const out = lastJson<StopJson>(r.stdout);
      expect(out.vms.map((v) => [v.name, v.result, v.error?.code])).toEqual([
        ["..", "failed", "BAD_NAME"],
        ["old", "failed", "STATE_NOT_REMOVED"],
      ]);
      expect(out.vms[1]).toMatchObject({ stoppedBy: "gone", stateRemoved: false });
      expect(readdirSync(dir)).toEqual(["notes.txt"]);
    });

    it("stop --keep keeps a stopped VM's state, and ps -a still lists it", async () => {
      const { home, dir } = homeWithKeptVm();
      const r = await cli(["stop", "--keep", "old", "--json"], { PLINTH_HOME: home });
      expect(r.exitCode).toBe(0);
      expect(lastJson<StopJson>(r.stdout)).toEqual({
        ok: true,
        vms: [{ name: "old", result: "not-running", stoppedBy: "gone", stateRemoved: false }],
      });
      expect(existsSync(path.join(dir, "config.json"))).toBe(true);
      const ps = JSON.parse((await cli(["ps", "-a", "--json"], { PLINTH_HOME: home })).stdout) as {
        name: string;
        running: boolean;
      }[];
      expect(ps).toEqual([expect.objectContaining({ name: "old", running: false })]);
    });

    it("logs --json: the whole log, or one object per line with -f", async () => {
      const { home } = homeWithKeptVm();
      const whole = await cli(["logs", "old", "--json"], { PLINTH_HOME: home });
      expect(whole.exitCode).toBe(0);
      expect(JSON.parse(whole.stdout)).toEqual({
        name: "old",
        log: "booting\r\nplinth-init: starting agent\r\n",
      });
      // -f ends when the VM is not running: here at once, after what is there.
      const follow = await cli(["logs", "old", "-f", "--json"], { PLINTH_HOME: home });
      expect(follow.exitCode).toBe(0);
      expect(
        follow.stdout
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l) as unknown),
      ).toEqual([
        { name: "old", line: "booting" },
        { name: "old", line: "plinth-init: starting agent" },
      ]);
      expect((await cli(["logs", "old"], { PLINTH_HOME: home })).stdout).toContain("booting");
    });

    it("exec, cp and logs of an unknown VM: exit 2, and an error object with --json", async () => {
      const home = tempFiles({});
      for (const args of [
        ["exec", "nope", "--json", "--", "true"],
        ["cp", "--json", "./x", "nope:/x"],
        ["logs", "nope", "--json"],
      ]) {
        const r = await cli(args, { PLINTH_HOME: home });
        expect(r.exitCode, args.join(" ")).toBe(2);
        expect(lastJson<{ error: { code: string } }>(r.stdout).error.code).toBe("NOT_FOUND");
      }
      const bad = await cli(["cp", "--json", "a", "b"], { PLINTH_HOME: home });
      expect(bad.exitCode).toBe(2);
      expect(lastJson<{ error: { code: string } }>(bad.stdout).error.code).toBe("BAD_COPY");
    });
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
