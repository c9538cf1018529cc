import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { beforeAll, describe, expect, it } from "vitest";
import { buildImage } from "../../src/builder/build.js";
import { ToolError } from "../../src/errors.js";
import type { PlinthEvent } from "../../src/events.js";
import { verifyImage } from "../../src/image/metadata.js";
import { sha256File } from "../../src/util/hash.js";
import { CLI, cli, integrationSkipReason, ROOT } from "../helpers.js";
import { debugfsCat, debugfsLs, debugfsStat } from "../../src/image/ext4-files.js";

const skip = integrationSkipReason();
const MINIMAL = path.join(ROOT, "examples", "minimal.yaml");
// A private store per run; the bootstrap cache stays shared so reruns are warm.
const home = mkdtempSync(path.join(os.tmpdir(), "plinth-it-"));
const env = { PLINTH_HOME: home };

describe.skipIf(!!skip)("build examples/minimal.yaml for real", () => {
  let imageDir = "";
  let rootfs = "";

  beforeAll(async () => {
    const r = await cli(["build", MINIMAL, "--json"], env);
    if (r.exitCode !== 0) throw new Error(`build failed:\n${r.stderr}\n${r.stdout.slice(-2000)}`);
    imageDir = (JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { imageDir: string }).imageDir;
    rootfs = path.join(imageDir, "rootfs.ext4");
  });

  it("writes the image into the store, with no temp leftovers", () => {
    expect(imageDir.startsWith(path.join(home, "images", "minimal"))).toBe(true);
    expect(readdirSync(imageDir).sort()).toEqual([
      "SHA256SUMS",
      "initrd.img",
      "metadata.json",
      "rootfs.ext4",
      "sbom.spdx.json",
      "vmlinuz",
    ]);
    expect(readdirSync(path.dirname(imageDir))).toEqual([path.basename(imageDir)]);
  });

  it("produces a clean ext4 filesystem", async () => {
    const r = await execa("e2fsck", ["-fn", rootfs], { reject: false });
    expect(r.exitCode, String(r.stdout)).toBe(0);
  });

  it("puts the spec's files, users, directories and settings into the rootfs", async () => {
    expect(await debugfsCat(rootfs, "/etc/motd")).toBe("Built by plinth.\n");
    expect(await debugfsStat(rootfs, "/etc/motd")).toMatchObject({ mode: "0644", uid: 0 });
    expect(await debugfsCat(rootfs, "/etc/passwd")).toMatch(
      /^agent:x:1000:1000::\/home\/agent:\/bin\/bash$/m,
    );
    expect(await debugfsCat(rootfs, "/etc/sudoers.d/90-plinth-agent")).toBe(
      "agent ALL=(ALL:ALL) NOPASSWD: ALL\n",
    );
    expect(await debugfsStat(rootfs, "/etc/sudoers.d/90-plinth-agent")).toMatchObject({
      mode: "0440",
      uid: 0,
    });
    expect(await debugfsStat(rootfs, "/workspace")).toMatchObject({
      type: "directory",
      mode: "0755",
      uid: 1000,
      gid: 1000,
    });
    expect(await debugfsStat(rootfs, "/home/agent")).toMatchObject({
      type: "directory",
      uid: 1000,
    });
    expect(await debugfsCat(rootfs, "/etc/hostname")).toBe("minimal\n");
    expect(await debugfsCat(rootfs, "/etc/timezone")).toBe("Etc/UTC\n");
  });

  it("installs the static agent as the minimal init, and no runtime for it", async () => {
    expect(await debugfsStat(rootfs, "/usr/lib/plinth/plinth-agent")).toMatchObject({
      mode: "0755",
      uid: 0,
    });
    const agent = await execa("debugfs", ["-R", "cat /usr/lib/plinth/plinth-agent", rootfs], {
      encoding: "buffer",
    });
    const bytes = Buffer.from(agent.stdout);
    expect(bytes.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
    expect(bytes.equals(readFileSync(path.join(ROOT, "dist/guest/plinth-agent-linux-amd64")))).toBe(
      true,
    );
    expect(await debugfsLs(rootfs, "/usr/lib/plinth")).toEqual(
      expect.not.arrayContaining(["init", "plinth-agent.js"]),
    );
  });

  it("records metadata whose every sha256 checks out", async () => {
    const meta = await verifyImage(imageDir);
    expect(meta.name).toBe("minimal");
    expect(meta.version).toMatch(/^0\.1\.0-\d{8}-([0-9a-f]{7,}(-dirty)?|nogit)$/);
    expect(meta.base).toEqual({ distro: "debian", suite: "bookworm" });
    expect(meta.kernel.cmdline).toBe(
      "console=ttyS0 root=/dev/vda rw panic=-1 init=/usr/lib/plinth/plinth-agent",
    );
    expect(meta.kernel.version).toMatch(/cloud-amd64$/);
    expect(meta.artifacts.map((a) => a.name)).toEqual([
      "rootfs.ext4",
      "vmlinuz",
      "initrd.img",
      "sbom.spdx.json",
    ]);
    for (const a of meta.artifacts)
      expect(await sha256File(path.join(imageDir, a.name))).toBe(a.sha256);
    const names = meta.packages.map((p) => p.name);
    expect(names).toEqual(
      expect.arrayContaining(["linux-image-cloud-amd64", "sudo", "ca-certificates"]),
    );
    for (const p of ["systemd-sysv", "nodejs", "libnode108", "tini"])
      expect(names).not.toContain(p);
    const sums = await execa("sha256sum", ["-c", "SHA256SUMS"], { cwd: imageDir, reject: false });
    expect(sums.exitCode, String(sums.stdout)).toBe(0);
  });

  it("builds a systemd variant whose units are enabled and disabled, and boots it to the ready marker", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "plinth-sd-"));
    const spec = path.join(dir, "sd.yaml");
    writeFileSync(
      spec,
      `extends: ${MINIMAL}\nname: sd\ninit: systemd\nagent: false\nservices:\n  disable: [apt-daily.timer, apt-daily-upgrade.timer]\n`,
    );
    const r = await buildImage({ specFile: spec, outDir: path.join(dir, "img") });
    const fs = path.join(r.imageDir, "rootfs.ext4");
    expect(await debugfsLs(fs, "/etc/systemd/system/multi-user.target.wants")).toContain(
      "plinth-ready.service",
    );
    const timers = await debugfsLs(fs, "/etc/systemd/system/timers.target.wants");
    expect(timers).not.toContain("apt-daily.timer");
    expect(timers).not.toContain("apt-daily-upgrade.timer");
    expect(r.metadata.kernel.cmdline).toBe("console=ttyS0 root=/dev/vda rw panic=-1");
    const run = await cli(["run", "--rm", r.imageDir, "--json"], env);
    expect(run.exitCode, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout.trim().split("\n").at(-1)!) as {
      bootMs: number;
      attempts: number;
    };
    expect(result.bootMs).toBeGreaterThan(0);
  }, 600_000);

  it("reuses the cached bootstrap when only a file changes", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "plinth-warm-"));
    const spec = path.join(dir, "warm.yaml");
    writeFileSync(
      spec,
      `extends: ${MINIMAL}\nname: warm\nfiles:\n  - path: /etc/warm\n    content: "${Date.now()}"\n`,
    );
    const events: PlinthEvent[] = [];
    const r = await buildImage({
      specFile: spec,
      outDir: path.join(dir, "img"),
      onEvent: (e) => events.push(e),
    });
    const boot = events.find((e) => e.type === "stage:end" && e.stage === "bootstrap");
    expect(boot).toMatchObject({ cached: true });
    expect(await debugfsCat(path.join(r.imageDir, "rootfs.ext4"), "/etc/warm")).toMatch(/^\d+$/);
  }, 300_000);

  it("gives builds of one version with different inputs their own store slots, and writes only into the image", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "plinth-slots-"));
    const spec = path.join(dir, "slots.yaml");
    const canary = `plinth-canary-${process.pid}-${Date.now()}`;
    writeFileSync(
      spec,
      `extends: ${MINIMAL}\nname: slots\n` +
        `files:\n  - { path: /var/run/${canary}, content: "in the image" }\n` +
        `run:\n  - ln -sf ${path.join(dir, canary)} /etc/resolv.conf\n`,
    );
    const saved = process.env.PLINTH_HOME;
    process.env.PLINTH_HOME = home;
    try {
      const a = await buildImage({ specFile: spec, sets: ["hostname=a"] });
      const b = await buildImage({ specFile: spec, sets: ["hostname=b"] });
      expect(a.metadata.version).toBe(b.metadata.version);
      expect(a.imageDir).not.toBe(b.imageDir);
      expect(readdirSync(path.join(home, "images", "slots")).sort()).toEqual(
        [a.imageDir, b.imageDir].map((d) => path.basename(d)).sort(),
      );
      expect(await debugfsCat(path.join(a.imageDir, "rootfs.ext4"), "/etc/hostname")).toBe("a\n");
      expect(await debugfsCat(path.join(b.imageDir, "rootfs.ext4"), "/etc/hostname")).toBe("b\n");
      // Debian's /var/run → /run resolved inside the image, the planted link never followed.
      expect(existsSync(`/run/${canary}`)).toBe(false);
      expect(existsSync(path.join(dir, canary))).toBe(false);
      expect(await debugfsCat(path.join(a.imageDir, "rootfs.ext4"), `/run/${canary}`)).toBe(
        "in the image",
      );
    } finally {
      if (saved === undefined) delete process.env.PLINTH_HOME;
      else process.env.PLINTH_HOME = saved;
    }
  }, 300_000);

  it("a failing run step names its stage, shows its output and leaves no image", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "plinth-fail-"));
    const spec = path.join(dir, "fail.yaml");
    writeFileSync(
      spec,
      `extends: ${MINIMAL}\nname: fail\nrun:\n  - echo about to fail >&2; exit 3\n`,
    );
    const out = path.join(dir, "img");
    const err = await buildImage({ specFile: spec, outDir: out }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ToolError);
    expect((err as ToolError).message).toMatch(/^run\[0\]: .* exited with 3$/);
    expect((err as ToolError).stderrTail).toContain("about to fail");
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir)).toEqual(["fail.yaml"]);
  }, 300_000);

  it("Ctrl-C during a stage cancels, exits 130 and leaves nothing behind", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "plinth-int-"));
    const spec = path.join(dir, "slow.yaml");
    writeFileSync(spec, `extends: ${MINIMAL}\nname: slow\nrun:\n  - sleep 300\n`);
    const out = path.join(dir, "img");
    const workdirs = () =>
      readdirSync("/dev/shm").filter((f) => f.startsWith("plinth-build-")).length;
    const before = workdirs();
    const child = execa("node", [...CLI, "build", spec, "-o", out], { reject: false, env });
    let stderr = "";
    await new Promise<void>((resolve) => {
      child.stderr?.on("data", (b: Buffer) => {
        stderr += b.toString();
        if (stderr.includes("customize rootfs")) resolve();
      });
    });
    await new Promise((r) => setTimeout(r, 2000));
    child.kill("SIGINT");
    const r = await child;
    expect(r.exitCode).toBe(130);
    expect(String(r.stderr)).toMatch(/Cancelled during run\[0\]/);
    expect(readdirSync(dir)).toEqual(["slow.yaml"]);
    expect(workdirs()).toBe(before);
    const sleeping = await execa("pgrep", ["-f", "sleep 300"], { reject: false });
    expect(sleeping.stdout).toBe("");
  }, 300_000);
});
