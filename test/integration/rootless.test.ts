import { chmodSync, chownSync, mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { CLI, integrationSkipReason, ROOT } from "../helpers.js";
import { debugfsStat } from "./debugfs.js";

const skip = integrationSkipReason();
// A plain user with a subuid range (Debian's useradd gives one), created once per machine.
const USER = "plinth-rootless";

describe.skipIf(!!skip)("rootless build", () => {
  it("builds as a plain user: unshare-mode bootstrap, image owners kept", async () => {
    const has = await execa("id", [USER], { reject: false });
    if (has.exitCode !== 0) await execa("useradd", ["--create-home", USER]);
    const { stdout: uid } = await execa("id", ["-u", USER]);
    const dir = mkdtempSync(path.join(os.tmpdir(), "plinth-rootless-"));
    chmodSync(dir, 0o755);
    chownSync(dir, Number(uid), Number(uid));
    const out = path.join(dir, "img");
    const r = await execa(
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
        "node",
        CLI,
        "build",
        path.join(ROOT, "examples/minimal.yaml"),
        "-o",
        out,
        "--json",
      ],
      { reject: false, cwd: dir },
    );
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
});
