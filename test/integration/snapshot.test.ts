import {
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureImage } from "../../src/builder/build.js";
import { Sandbox } from "../../src/sdk/index.js";
import type { SnapshotManifest } from "../../src/snapshot/manifest.js";
import { CLI, cli, integrationSkipReason, ROOT } from "../helpers.js";
import { startRegistry, type Registry } from "./servers.js";

const skip = integrationSkipReason();
const MINIMAL = path.join(ROOT, "examples", "minimal.yaml");
const home = mkdtempSync(path.join(os.tmpdir(), "plinth-snap-"));
const clean = mkdtempSync(path.join(os.tmpdir(), "plinth-snap2-"));
const work = mkdtempSync(path.join(os.tmpdir(), "plinth-snapw-"));
const env = { PLINTH_HOME: home };
const env2 = { PLINTH_HOME: clean };
const snap = path.join(work, "snaps", "s1");
const pkg = path.join(work, "s1.plinth-snapshot");

/** Lines the detached ticker has written so far. */
async function ticks(vm: string, e: Record<string, string>): Promise<number> {
  const r = await cli(["exec", vm, "--", "sh", "-c", "wc -l < /root/tick"], e);
  expect(r.exitCode).toBe(0);
  return Number(r.stdout.trim());
}

/** The in-flight exec's shell is running (the pattern does not match grep's own argv). */
const INFLIGHT = 'grep -l "[i]nflight-done" /proc/[0-9]*/cmdline 2>/dev/null | wc -l';
async function inflightRunning(sb: Sandbox): Promise<boolean> {
  const r = await sb.exec(INFLIGHT);
  return Number(r.stdout.trim()) > 0;
}

/** A copy of the snapshot (files hard-linked) with snapshot.json edited. */
function edited(name: string, edit: (s: SnapshotManifest) => void): string {
  const dir = path.join(work, name);
  mkdirSync(dir);
  for (const f of ["state", "disk.qcow2"]) linkSync(path.join(snap, f), path.join(dir, f));
  const s = JSON.parse(readFileSync(path.join(snap, "snapshot.json"), "utf8"));
  edit(s);
  writeFileSync(path.join(dir, "snapshot.json"), JSON.stringify(s));
  return dir;
}

describe.skipIf(!!skip)("snapshots: save, teleport, restore, fork", () => {
  let image = "";
  let registry: Registry;
  beforeAll(async () => {
    process.env.PLINTH_HOME = home;
    image = (await ensureImage({ specFile: MINIMAL })).imageDir;
    registry = await startRegistry();
    expect((await cli(["run", "-d", "--name", "src", image], env)).exitCode).toBe(0);
    // A file, and a process started detached (its own session) that keeps writing.
    const setup = await cli(
      [
        "exec",
        "src",
        "--",
        "sh",
        "-c",
        'echo kept > /root/f; setsid sh -c "while :; do echo t >> /root/tick; sleep 0.2; done" </dev/null >/dev/null 2>&1 &',
      ],
      env,
    );
    expect(setup.exitCode).toBe(0);
  }, 300_000);
  afterAll(async () => {
    for (const e of [env, env2]) {
      const ps = await cli(["ps", "--json"], e);
      const names = (JSON.parse(ps.stdout || "[]") as { name: string }[]).map((v) => v.name);
      if (names.length) await cli(["stop", ...names], e);
    }
    await registry?.stop();
    delete process.env.PLINTH_HOME;
  }, 120_000);

  it("snapshot saves state, disk and snapshot.json; the VM runs on, its in-flight exec finishes", async () => {
    // An exec still running when the snapshot is taken, on a session of its own (the
    // snapshot must not end it: it reads the agent's version from the VM's state).
    const sb = await Sandbox.connect("src");
    const inflight = sb.exec("sleep 15; touch /root/inflight-done");
    await new Promise((r) => setTimeout(r, 500));
    const r = await cli(["snapshot", "src", "-o", snap, "--json"], env);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    const s = JSON.parse(readFileSync(path.join(snap, "snapshot.json"), "utf8"));
    expect(s).toMatchObject({
      name: "s1",
      vm: "src",
      base: { name: "minimal", arch: "amd64" },
      machine: { type: "microvm", memMiB: 1024, cpus: 1 },
      agent: { protocol: { major: 1, minor: 2 } },
    });
    expect(s.qemu.version).toMatch(/^\d+\.\d+/);
    expect(s.base.artifacts.map((a: { kind: string }) => a.kind).sort()).toEqual([
      "initrd",
      "kernel",
      "rootfs",
    ]);
    expect(s.files.state.size).toBeGreaterThan(10 * 2 ** 20);
    expect(s.files["disk.qcow2"].sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(readdirSync(snap).sort()).toEqual(["disk.qcow2", "snapshot.json", "state"]);
    expect(await inflightRunning(sb)).toBe(true);
    // The original goes on: the in-flight exec completes there, the ticker keeps ticking.
    expect((await inflight).exitCode).toBe(0);
    await sb.close();
    const a = await ticks("src", env);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await ticks("src", env)).toBeGreaterThan(a);
    expect(
      (await cli(["exec", "src", "--", "test", "-e", "/root/inflight-done"], env)).exitCode,
    ).toBe(0);
  }, 120_000);

  it("export → import into a clean store: restore names the missing base; --pull fetches it; restore runs", async () => {
    expect((await cli(["snapshot", "export", snap, pkg], env)).exitCode).toBe(0);
    const imp = await cli(["snapshot", "import", pkg], env2);
    expect(imp.stderr).toBe("");
    expect(imp.exitCode).toBe(0);
    const missing = await cli(["restore", "s1"], env2);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(
      /Snapshot s1 needs image minimal 0\.1\.0\S* \(build [0-9a-f]{12}\), which is not in this store\./,
    );
    expect(missing.stderr).toContain("plinth pull");
    expect((await cli(["ps", "-a", "--json"], env2)).stdout.trim()).toBe("[]");

    const ref = `${registry.addr}/snap/minimal:0.1`;
    expect((await cli(["push", image, ref, "--insecure"], env)).exitCode).toBe(0);
    const pulled = await cli(
      ["snapshot", "import", pkg, "--name", "s2", "--pull", ref, "--insecure", "--json"],
      env2,
    );
    expect(pulled.exitCode).toBe(0);
    expect(JSON.parse(pulled.stdout.trim().split("\n").pop()!).pulled).toContain(
      path.join(clean, "images", "minimal"),
    );

    const r = await cli(["restore", "s2", "--name", "moved"], env2);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    expect((await cli(["exec", "moved", "--", "cat", "/root/f"], env2)).stdout).toBe("kept");
    // The detached process runs on in the restored guest and its output keeps coming.
    const a = await ticks("moved", env2);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await ticks("moved", env2)).toBeGreaterThan(a);
    // The exec in flight at snapshot time ended with the saved session.
    // (The restore's hello ended it; this exec's own hello ends nothing of it.)
    const left = await cli(["exec", "moved", "--", "sh", "-c", INFLIGHT], env2);
    expect(left.stdout.trim()).toBe("0");
    // Its clock was set from the host's.
    const guest = Number((await cli(["exec", "moved", "--", "date", "+%s"], env2)).stdout);
    expect(Math.abs(guest - Date.now() / 1000)).toBeLessThan(30);
  }, 300_000);

  it("fork -n 2: two VMs with different randomness and hostnames, each on its own disk", async () => {
    const r = await cli(["fork", "s2", "-n", "2", "--name", "fk", "--json"], env2);
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout.trim().split("\n").pop()!).names).toEqual(["fk-1", "fk-2"]);
    const look = (vm: string) =>
      cli(
        [
          "exec",
          vm,
          "--",
          "sh",
          "-c",
          "hostname; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'; echo > /root/mine-" + vm,
        ],
        env2,
      );
    const [a, b] = await Promise.all([look("fk-1"), look("fk-2")]);
    const [hostA, randA] = a.stdout.split("\n");
    const [hostB, randB] = b.stdout.split("\n");
    expect([hostA, hostB]).toEqual(["fk-1", "fk-2"]);
    expect(randA).toMatch(/^[0-9a-f]{64}$/);
    expect(randA).not.toBe(randB);
    // Writes of one fork are not seen by the other.
    expect(
      (await cli(["exec", "fk-2", "--", "test", "-e", "/root/mine-fk-1"], env2)).exitCode,
    ).toBe(1);
    expect((await cli(["stop", "fk-1", "fk-2", "moved"], env2)).exitCode).toBe(0);
  }, 300_000);

  it("refuses another arch, MAJOR.MINOR, machine type or protocol major, and a truncated file, before QEMU starts", async () => {
    const cases: [string, (s: SnapshotManifest) => void, RegExp][] = [
      [
        "arch",
        (s) => (s.base.arch = "arm64"),
        /Can't restore an arm64 snapshot on a different base: minimal 0\.1\.0\S* is amd64\./,
      ],
      [
        "minor",
        (s) => Object.assign(s.base, { version: "0.2.0", buildHash: "f".repeat(16) }),
        /was taken on minimal 0\.2\.0; the store has minimal 0\.1\.0\S*, and a different MAJOR\.MINOR cannot restore it\./,
      ],
      [
        "machine",
        (s) => (s.machine.type = "q35"),
        /taken on QEMU machine type q35; this plinth restores microvm snapshots only\./,
      ],
      [
        "protocol",
        (s) => (s.agent.protocol = { major: 2, minor: 0 }),
        /runs agent protocol 2\.0; this plinth speaks 1\.x\./,
      ],
    ];
    for (const [name, edit, message] of cases) {
      const r = await cli(["restore", edited(name, edit)], env);
      expect(r.exitCode, name).toBe(2);
      expect(r.stderr, name).toMatch(message);
    }
    const cut = edited("cut", () => undefined);
    rmSync(path.join(cut, "state")); // the link, not the snapshot's file
    writeFileSync(path.join(cut, "state"), Buffer.alloc(4096));
    const r = await cli(["restore", cut], env);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/Snapshot s1: state is 4096 bytes, not \d+\./);
    // Nothing was started for any of them: only the source VM is there.
    const ps = JSON.parse((await cli(["ps", "-a", "--json"], env)).stdout) as { name: string }[];
    expect(ps.map((v) => v.name)).toEqual(["src"]);
  }, 120_000);

  it("a different PATCH restores, with a warning", async () => {
    const dir = edited("patch", (s) =>
      Object.assign(s.base, { version: "0.1.9", buildHash: "e".repeat(16) }),
    );
    const r = await cli(["restore", dir, "--name", "patched"], env);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toMatch(
      /taken on minimal 0\.1\.9; restoring it on minimal 0\.1\.0\S* \(same MAJOR\.MINOR, another PATCH\)/,
    );
    expect((await cli(["exec", "patched", "--", "cat", "/root/f"], env)).stdout).toBe("kept");
    expect((await cli(["stop", "patched"], env)).exitCode).toBe(0);
  }, 120_000);

  it("a snapshot SIGKILLed half-way leaves no snapshot dir, and its paused VM resumes on the next attach", async () => {
    const parent = path.join(work, "killed");
    const out = path.join(parent, "k1");
    const child = execa("node", [...CLI, "snapshot", "src", "-o", out], { env, reject: false });
    for (
      let i = 0;
      i < 400 &&
      !(existsSync(parent) && readdirSync(parent).some((e) => e.startsWith(".plinth-partial-")));
      i++
    )
      await new Promise((r) => setTimeout(r, 25));
    await new Promise((r) => setTimeout(r, 300)); // inside the save
    child.kill("SIGKILL");
    await child;
    expect(existsSync(out)).toBe(false);
    // The guest was left paused; the next command that attaches resumes it.
    const r = await cli(["exec", "src", "--", "cat", "/root/f"], env);
    expect(r.stdout).toBe("kept");
    // The next snapshot into that dir clears the dead one's leftovers.
    expect((await cli(["snapshot", "src", "-o", path.join(parent, "k2")], env)).exitCode).toBe(0);
    expect(readdirSync(parent)).toEqual(["k2"]);
  }, 180_000);
});
