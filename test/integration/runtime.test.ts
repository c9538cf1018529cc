import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureImage } from "../../src/builder/build.js";
import { AgentExecError } from "../../src/agent/client/index.js";
import { Sandbox } from "../../src/sdk/index.js";
import { CLI, cli, integrationSkipReason, ROOT } from "../helpers.js";

const skip = integrationSkipReason();
const MINIMAL = path.join(ROOT, "examples", "minimal.yaml");
const home = mkdtempSync(path.join(os.tmpdir(), "plinth-rt-"));
const env = { PLINTH_HOME: home };
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe.skipIf(!!skip)("boot and drive examples/minimal.yaml (init: minimal, agent)", () => {
  let image = "";
  beforeAll(async () => {
    process.env.PLINTH_HOME = home;
    image = (await ensureImage({ specFile: MINIMAL })).imageDir;
  });
  afterAll(() => {
    delete process.env.PLINTH_HOME;
  });

  it("run --rm streams the command's output and exits with its exit code", async () => {
    const r = await cli(
      ["run", "--rm", image, "--", "sh", "-c", "echo hi; echo err >&2; exit 3"],
      env,
    );
    expect(r.stdout).toBe("hi");
    expect(r.stderr).toContain("err\n");
    expect(r.stderr).toMatch(/boot-to-agent-ready \d+\.\ds \((tcg|kvm)/);
    expect(r.exitCode).toBe(3);
    expect((await cli(["ps", "-a", "--json"], env)).stdout.trim()).toBe("[]");
  }, 120_000);

  it("--boot disk of an image without the disk output: one sentence, exit 2, no VM state", async () => {
    const r = await cli(["run", "--rm", "--boot", "disk", image, "--", "true"], env);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/has no UEFI disk to boot\./);
    expect(r.stderr).toContain("Add `disk` to the spec's outputs");
    expect((await cli(["ps", "-a", "--json"], env)).stdout.trim()).toBe("[]");
  }, 60_000);

  describe("SDK", () => {
    let sb: Sandbox;
    beforeAll(async () => {
      sb = await Sandbox.start(image);
    }, 120_000);
    afterAll(async () => {
      await sb?.stop();
    });

    it("knows how it started and what it runs", () => {
      expect(sb.started).toMatchObject({ imageReused: true });
      expect(sb.started!.attempts).toBeGreaterThanOrEqual(1);
      expect(sb.bootMs).toBeGreaterThan(0);
      expect(sb.hasAgent).toBe(true);
      expect(["kvm", "tcg"]).toContain(sb.accel);
      expect(sb.image).toMatchObject({ dir: image, name: "minimal" });
      expect(sb.name).toMatch(/^minimal-[0-9a-f]{6}$/);
      expect(sb.detached).toBe(false);
    });

    it("exec with reject: the error carries the command's exit code", async () => {
      const error = await sb.exec("exit 5", { reject: true }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AgentExecError);
      expect(error).toMatchObject({ code: "EXEC_FAILED", exitCode: 5, signal: null });
    });

    it("files.upload and files.download copy trees with their modes", async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), "plinth-up-"));
      mkdirSync(path.join(dir, "t", "s"), { recursive: true });
      writeFileSync(path.join(dir, "t", "x"), "x\n", { mode: 0o700 });
      writeFileSync(path.join(dir, "t", "s", "y"), "yy\n");
      expect(await sb.files.upload(path.join(dir, "t"), "/workspace/t")).toEqual({
        files: 2,
        bytes: 5,
      });
      expect((await sb.exec("stat -c %a /workspace/t/x; cat /workspace/t/s/y")).stdout).toBe(
        "700\nyy\n",
      );
      expect(await sb.files.download("/workspace/t", path.join(dir, "back"))).toEqual({
        files: 2,
        bytes: 5,
      });
      expect(statSync(path.join(dir, "back", "x")).mode & 0o777).toBe(0o700);
    });

    it("runs 20 execs concurrently and gets every output back", async () => {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          sb.exec(`sleep 0.$((${i} % 3)); echo out-${i}; echo err-${i} >&2; exit ${i % 5}`),
        ),
      );
      results.forEach((r, i) => {
        expect(r.stdout).toBe(`out-${i}\n`);
        expect(r.stderr).toBe(`err-${i}\n`);
        expect(r.exitCode).toBe(i % 5);
      });
    });

    it("passes argv, env, cwd, user and stdin", async () => {
      const r = await sb.exec(["sh", "-c", 'echo "$0 $FOO $(pwd) $(id -un)"; cat', "arg0"], {
        env: { FOO: "bar" },
        cwd: "/workspace",
        user: "agent",
        stdin: "from-stdin",
      });
      expect(r.stdout).toBe("arg0 bar /workspace agent\nfrom-stdin");
    });

    it("reports info and the image's identity", async () => {
      const info = await sb.info();
      expect(JSON.stringify(info)).toContain("bookworm");
      expect((await sb.files.readText("/etc/hostname")).trim()).toBe("minimal");
    });

    it("reaps orphaned processes: the agent is PID 1", async () => {
      expect((await sb.exec("cat /proc/1/comm")).stdout.trim()).toBe("plinth-agent");
      const before = (await sb.info()).agent.orphansReaped ?? 0;
      // The subshell exits at once: its sleep is re-parented to PID 1 and exits later.
      await sb.exec("(sleep 0.3 &); (sleep 0.3 &); true");
      await new Promise((r) => setTimeout(r, 1500));
      const z = await sb.exec("grep -l '^State:.*Z' /proc/[0-9]*/status || true");
      expect(z.stdout).toBe("");
      const info = await sb.info();
      expect(info.zombies).toBe(0);
      expect(info.agent.orphansReaped).toBeGreaterThanOrEqual(before + 2);
    });
  });

  describe("detached VM with the CLI", () => {
    const name = `rt-${process.pid}`;
    beforeAll(async () => {
      const r = await cli(["run", "-d", "--name", name, image], env);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe(name);
    }, 120_000);
    afterAll(async () => {
      await cli(["stop", name], env);
    });

    it("is listed by ps", async () => {
      const vms = JSON.parse((await cli(["ps", "--json"], env)).stdout) as {
        name: string;
        running: boolean;
      }[];
      expect(vms).toEqual([expect.objectContaining({ name, running: true })]);
    });

    it("exec runs in it, with -e, -w and -i", async () => {
      const child = execa(
        "node",
        [
          ...CLI,
          "exec",
          "-i",
          "-e",
          "X=1",
          "-w",
          "/tmp",
          name,
          "--",
          "sh",
          "-c",
          'echo "$X $(pwd)"; wc -c',
        ],
        {
          env,
          input: "12345",
          reject: false,
        },
      );
      const r = await child;
      expect(r.stdout).toBe("1 /tmp\n5");
      expect(r.exitCode).toBe(0);
      expect((await cli(["exec", name, "--", "false"], env)).exitCode).toBe(1);
    });

    it("exec --json buffers the output and still exits with the command's status", async () => {
      const r = await cli(
        ["exec", "--json", name, "--", "sh", "-c", "echo out; echo err >&2; exit 4"],
        env,
      );
      expect(r.exitCode, r.stderr).toBe(4);
      expect(JSON.parse(r.stdout)).toEqual({
        exitCode: 4,
        signal: null,
        timedOut: false,
        stdout: "out\n",
        stderr: "err\n",
        durationMs: expect.any(Number) as unknown,
      });
      const slow = await cli(["exec", "--json", "--timeout", "1", name, "--", "sleep", "30"], env);
      expect(slow.exitCode).toBe(137);
      expect(JSON.parse(slow.stdout)).toMatchObject({
        exitCode: null,
        signal: "SIGKILL",
        timedOut: true,
      });
    });

    it("the SDK connects to it, and leaves it running on close", async () => {
      const sb = await Sandbox.connect(name);
      expect(sb.started).toBeUndefined();
      expect(sb.detached).toBe(true);
      expect((await sb.exec("echo hi")).stdout).toBe("hi\n");
      await sb.close();
      expect((await cli(["exec", name, "--", "true"], env)).exitCode).toBe(0);
    });

    it("cp moves a 10 MiB random file in and back out unchanged, mode kept", async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), "plinth-cp-"));
      const src = path.join(dir, "blob");
      const data = randomBytes(10 * 1024 * 1024);
      writeFileSync(src, data, { mode: 0o640 });
      const cpIn = await cli(["cp", "--json", src, `${name}:/workspace/blob`], env);
      expect(cpIn.exitCode, cpIn.stderr).toBe(0);
      expect(JSON.parse(cpIn.stdout)).toEqual({
        name,
        direction: "in",
        from: src,
        to: "/workspace/blob",
        files: 1,
        bytes: data.length,
      });
      expect(
        (await cli(["exec", name, "--", "sha256sum", "/workspace/blob"], env)).stdout,
      ).toContain(sha(data));
      expect(
        (await cli(["exec", name, "--", "stat", "-c", "%a", "/workspace/blob"], env)).stdout.trim(),
      ).toBe("640");
      const back = path.join(dir, "back");
      expect((await cli(["cp", `${name}:/workspace/blob`, back], env)).exitCode).toBe(0);
      expect(sha(readFileSync(back))).toBe(sha(data));
      expect(statSync(back).mode & 0o777).toBe(0o640);
    }, 120_000);

    it("cp copies directories both ways", async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), "plinth-cpd-"));
      await execa("sh", [
        "-c",
        `mkdir -p ${dir}/tree/sub && echo a > ${dir}/tree/a && echo b > ${dir}/tree/sub/b && chmod 755 ${dir}/tree/a`,
      ]);
      expect((await cli(["cp", `${dir}/tree`, `${name}:/workspace/tree`], env)).exitCode).toBe(0);
      expect((await cli(["cp", `${name}:/workspace/tree`, `${dir}/out`], env)).exitCode).toBe(0);
      expect(readFileSync(`${dir}/out/sub/b`, "utf8")).toBe("b\n");
      expect(statSync(`${dir}/out/a`).mode & 0o777).toBe(0o755);
    });

    it("logs shows the console", async () => {
      const r = await cli(["logs", name], env);
      expect(r.stdout).toContain("plinth-init: starting agent");
      const json = JSON.parse((await cli(["logs", "--json", name], env)).stdout) as {
        name: string;
        log: string;
      };
      expect(json.name).toBe(name);
      expect(json.log).toContain("plinth-init: starting agent");
    });

    it("stop powers it off, removes its state, and reports the unknown name next to it", async () => {
      const r = await cli(["stop", "--json", name, `nope-${process.pid}`], env);
      expect(r.exitCode).toBe(2);
      expect(JSON.parse(r.stdout.trim().split("\n").at(-1)!)).toEqual({
        ok: false,
        vms: [
          { name, result: "stopped", stoppedBy: "agent", stateRemoved: true },
          {
            name: `nope-${process.pid}`,
            result: "failed",
            stateRemoved: false,
            error: expect.objectContaining({ code: "NOT_FOUND" }) as unknown,
          },
        ],
      });
      expect(existsSync(path.join(home, "vms", name))).toBe(false);
      expect((await cli(["exec", name, "--", "true"], env)).exitCode).toBe(2);
    });
  });

  it("killing plinth leaves no QEMU running", async () => {
    const name = `orphan-${process.pid}`;
    const child = execa(
      "node",
      [...CLI, "run", "--rm", "--name", name, image, "--", "sleep", "600"],
      {
        env,
        reject: false,
      },
    );
    const pidFile = path.join(home, "vms", name, "config.json");
    let qemuPid: number | undefined;
    for (let i = 0; i < 600 && !qemuPid; i++) {
      await new Promise((r) => setTimeout(r, 200));
      if (existsSync(pidFile))
        qemuPid = (JSON.parse(readFileSync(pidFile, "utf8")) as { pid?: number }).pid;
    }
    expect(qemuPid).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 3000));
    child.kill("SIGKILL");
    await child;
    let alive = true;
    for (let i = 0; i < 50 && alive; i++) {
      await new Promise((r) => setTimeout(r, 100));
      alive =
        existsSync(`/proc/${qemuPid}`) &&
        !readFileSync(`/proc/${qemuPid}/stat`, "utf8").includes(") Z ");
    }
    expect(alive).toBe(false);
    // Its state is stale now, and the next ps cleans it.
    expect((await cli(["ps", "-a", "--json"], env)).stdout.trim()).toBe("[]");
    expect(existsSync(path.join(home, "vms", name))).toBe(false);
  }, 120_000);

  it("examples/systemd.yaml: the agent starts from an early unit under systemd", async () => {
    const sb = await Sandbox.start(path.join(ROOT, "examples", "systemd.yaml"));
    try {
      expect((await sb.exec("cat /proc/1/comm")).stdout.trim()).toBe("systemd");
      expect((await sb.exec("systemctl is-active plinth-agent.service")).stdout.trim()).toBe(
        "active",
      );
      expect((await sb.exec("systemctl is-enabled apt-daily.timer")).stdout.trim()).toBe(
        "disabled",
      );
    } finally {
      await sb.stop();
    }
  }, 300_000);

  it("applies ssh, sysctl, firewall, mounts, limits and environment in a minimal-init guest", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "plinth-sys-"));
    const spec = path.join(dir, "sys.yaml");
    writeFileSync(
      spec,
      [
        `extends: ${MINIMAL}`,
        "name: sys",
        "ssh: { PermitRootLogin: 'no', PasswordAuthentication: false, MaxAuthTries: 3 }",
        "sysctl: { vm.swappiness: 13 }",
        "firewall: { allow: [{ port: 22 }, { port: '3000:3999' }] }",
        "mounts: [{ source: tmpfs, target: /mnt/scratch, type: tmpfs, options: size=16M }]",
        "limits: [{ domain: '*', type: soft, item: nofile, value: 65536 }]",
        "environment: { EDITOR: vim }",
        "directories: [{ path: /mnt/scratch }]",
      ].join("\n") + "\n",
    );
    const sb = await Sandbox.start(spec);
    try {
      const sh = async (cmd: string) => (await sb.exec(cmd)).stdout.trim();
      expect(await sh("cat /proc/sys/vm/swappiness")).toBe("13");
      const rules = await sh("nft list ruleset");
      expect(rules).toContain("policy drop");
      expect(rules).toContain("tcp dport 22 accept");
      expect(rules).toContain("tcp dport 3000-3999 accept");
      expect(await sh("grep ' /mnt/scratch ' /proc/mounts | cut -d' ' -f3")).toBe("tmpfs");
      expect(await sh("grep nofile /etc/security/limits.d/90-plinth.conf")).toBe(
        "*\tsoft\tnofile\t65536",
      );
      expect(await sh("grep EDITOR /etc/environment")).toBe('EDITOR="vim"');
      // The minimal init starts only the agent, no sshd: check sshd's effective settings.
      const sshd = await sh(
        "mkdir -p /run/sshd; /usr/sbin/sshd -T | grep -E '^(permitrootlogin|passwordauthentication|maxauthtries) '",
      );
      expect(sshd.split("\n").sort()).toEqual([
        "maxauthtries 3",
        "passwordauthentication no",
        "permitrootlogin no",
      ]);
    } finally {
      await sb.stop();
    }
  }, 300_000);
});
