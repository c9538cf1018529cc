import { chmodSync, chownSync, existsSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { CLI, integrationSkipReason, ROOT } from "../helpers.js";
import { debugfsStat } from "../../src/image/ext4-files.js";
import { buildah, makeBaseImage } from "./oci-images.js";

const skip = integrationSkipReason();
// A plain user with a subuid range (Debian's useradd gives one), created once per machine.
const USER = "plinth-rootless";

describe.skipIf(!!skip)("rootless build", () => {
  it("builds as a plain user: unshare-mode bootstrap, image owners kept", async () => {
    const dir = await userDir();
    const out = path.join(dir, "img");
    const r = await asUser(dir, ["build", path.join(ROOT, "examples/minimal.yaml"), "-o", out]);
    expect(r.exitCode, `${r.stderr}\n${r.stdout.slice(-2000)}`).toBe(0);
    expect(JSON.parse(r.stdout.trim().split("\n").at(-1)!)).toMatchObject({ imageDir: out });
    const rootfs = path.join(out, "rootfs.ext4");
    expect((await execa("e2fsck", ["-fn", rootfs], { reject: false })).exitCode).toBe(0);
    expect(await debugfsStat(rootfs, "/workspace")).toMatchObject({
      uid: 1000,
      gid: 1000,
      mode: "0755",
    });
    expect(await debugfsStat(rootfs, "/usr/bin/sudo")).toMatchObject({ uid: 0, mode: "4755" });
    expect(await debugfsStat(rootfs, "/etc/sudoers.d/90-plinth-agent")).toMatchObject({
      uid: 0,
      mode: "0440",
    });
  }, 600_000);

  it("a user error inside the namespace keeps its class: one sentence, exit 2", async () => {
    const dir = await userDir();
    // The bootstrap is the one above (a cache hit); the unknown owner fails in customize,
    // which runs in the user namespace.
    const spec = path.join(dir, "bad-owner.yaml");
    writeFileSync(
      spec,
      `extends: ${path.join(ROOT, "examples/minimal.yaml")}\nfiles:\n  - { path: /etc/x, content: x, owner: nobody-here }\n`,
    );
    chmodSync(spec, 0o644);
    const r = await asUser(dir, ["build", spec, "-o", path.join(dir, "img")]);
    expect(r.exitCode, r.stdout.slice(-2000)).toBe(2);
    const last = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { error: { code: string } };
    expect(last.error).toMatchObject({ code: "UNKNOWN_OWNER", name: "UserError" });
    expect(existsSync(path.join(dir, "img"))).toBe(false);
  }, 600_000);

  it("builds on a container base as a plain user: layers unpacked in the user namespace, owners kept", async () => {
    const dir = await userDir();
    await makeBaseImage("plinth-test/rootless:1");
    const layout = path.join(dir, "layout");
    await buildah("push", "-q", "plinth-test/rootless:1", `oci:${layout}`);
    await buildah("rmi", "plinth-test/rootless:1");
    await execa("chmod", ["-R", "a+rX", layout]);
    const spec = path.join(dir, "oci.yaml");
    writeFileSync(
      spec,
      `name: rootless-oci\nversion: 1.0.0\nbase: { oci-layout: ${layout} }\ninit: minimal\nagent: true\n`,
    );
    chmodSync(spec, 0o644);
    const out = path.join(dir, "img");
    const r = await asUser(dir, ["build", spec, "-o", out]);
    expect(r.exitCode, `${r.stderr}\n${r.stdout.slice(-2000)}`).toBe(0);
    const rootfs = path.join(out, "rootfs.ext4");
    expect((await execa("e2fsck", ["-fn", rootfs], { reject: false })).exitCode).toBe(0);
    expect(await debugfsStat(rootfs, "/srv/app/data")).toMatchObject({
      uid: 1234,
      gid: 2345,
      mode: "4751",
    });
    expect(await debugfsStat(rootfs, "/usr/bin/sudo")).toMatchObject({ uid: 0, mode: "4755" });
  }, 900_000);
});

/** A temp dir the plain user owns (created with the user on first use). */
async function userDir(): Promise<string> {
  const has = await execa("id", [USER], { reject: false });
  if (has.exitCode !== 0) await execa("useradd", ["--create-home", USER]);
  const { stdout: uid } = await execa("id", ["-u", USER]);
  const dir = mkdtempSync(path.join(os.tmpdir(), "plinth-rootless-"));
  chmodSync(dir, 0o755);
  chownSync(dir, Number(uid), Number(uid));
  return dir;
}

/** `plinth <args> --json` as the plain user. */
function asUser(cwd: string, args: string[]) {
  return execa(
    "setpriv",
    [
      "--reuid",
      USER,
      "--regid",
      USER,
      "--init-groups",
      "--",
      "env",
      `HOME=/home/${USER}`,
      `TMPDIR=${cwd}`, // the test run's own temp dir is root's; tsx caches its output here
      "node",
      ...CLI,
      ...args,
      "--json",
    ],
    { reject: false, cwd },
  );
}
