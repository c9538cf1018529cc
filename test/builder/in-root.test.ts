import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
} from "node:fs";
import { readdirSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { resolveInRoot } from "../../src/builder/in-root.js";
import { Rootfs } from "../../src/builder/customize/rootfs.js";
import { applyRunSteps } from "../../src/builder/customize/run-steps.js";
import type { Spec } from "../../src/spec/schema.js";
import { which } from "../../src/host/tools.js";
import { tempFiles } from "../helpers.js";

/** An image-like tree: Debian's absolute /var/run → /run link, and a link to a host path. */
function tree(hostTarget: string): string {
  const root = tempFiles({});
  for (const d of ["etc", "run", "var", "usr/lib"])
    mkdirSync(path.join(root, d), { recursive: true });
  symlinkSync("/run", path.join(root, "var/run"));
  symlinkSync(hostTarget, path.join(root, "etc/planted"));
  symlinkSync("../../../../..", path.join(root, "usr/lib/up"));
  return root;
}

describe("paths inside the rootfs, as a chroot resolves them", () => {
  const host = tempFiles({}); // stands for the host: nothing may be written here

  it("follows absolute links from the rootfs root and clamps ..", () => {
    const root = tree(path.join(host, "canary"));
    expect(resolveInRoot(root, "/var/run/x.pid")).toBe(path.join(root, "run/x.pid"));
    expect(resolveInRoot(root, "/etc/planted")).toBe(path.join(root, host, "canary"));
    expect(resolveInRoot(root, "/usr/lib/up/etc/passwd")).toBe(path.join(root, "etc/passwd"));
    expect(resolveInRoot(root, "/../../etc/x")).toBe(path.join(root, "etc/x"));
    expect(resolveInRoot(root, "/etc/planted", false)).toBe(path.join(root, "etc/planted"));
    symlinkSync("loop", path.join(root, "etc/loop"));
    expect(() => resolveInRoot(root, "/etc/loop")).toThrow(/too many symbolic links/);
  });

  it("writes a spec file through /var/run into the image, not into the host's /run", async () => {
    const name = `plinth-test-${randomBytes(4).toString("hex")}`;
    const root = tree(path.join(host, "canary"));
    const fs = new Rootfs(root);
    await fs.write(`/var/run/${name}`, "in the image\n", { mode: 0o600 });
    expect(existsSync(`/run/${name}`)).toBe(false);
    expect(readFileSync(path.join(root, "run", name), "utf8")).toBe("in the image\n");
    expect(lstatSync(path.join(root, "run", name)).mode & 0o777).toBe(0o600);
    expect(lstatSync(path.join(root, "var/run")).isSymbolicLink()).toBe(true);
  });

  it("writes through a link to a host path inside the image, leaving the host path alone", async () => {
    const canary = path.join(host, "canary-write");
    const root = tree(canary);
    await new Rootfs(root).write("/etc/planted", "x");
    expect(existsSync(canary)).toBe(false);
    expect(readFileSync(path.join(root, canary), "utf8")).toBe("x");
    await new Rootfs(root).remove("/etc/planted");
    expect(existsSync(path.join(root, canary))).toBe(true); // the link went, not its target
  });
});

// `run` steps need a real chroot: a busybox tree, unshare and root (as every build does).
const busybox = which("busybox");
const chrootReason =
  process.getuid?.() !== 0 ? "needs root" : !busybox ? "needs busybox" : undefined;
if (chrootReason && process.env.CI) throw new Error(`run-step tests ${chrootReason} in CI`);
if (chrootReason) console.warn(`skipping the run-step tests: they ${chrootReason}`);

describe.skipIf(!!chrootReason)("run steps and the image's resolv.conf", () => {
  const busyboxTree = (hostTarget: string) => {
    const root = tree(hostTarget);
    for (const d of ["bin", "proc", "sys", "dev", "usr/sbin"])
      mkdirSync(path.join(root, d), { recursive: true });
    copyFileSync(busybox!, path.join(root, "bin/busybox"));
    for (const tool of ["sh", "ln", "rm", "cat", "echo"])
      symlinkSync("busybox", path.join(root, "bin", tool));
    return root;
  };
  const steps = (...run: string[]) => ({ run }) as unknown as Spec;

  it("a step that points resolv.conf at a host path writes nothing there, and the link is restored", async () => {
    const host = tempFiles({});
    const canary = path.join(host, "canary");
    const root = busyboxTree(canary);
    symlinkSync("../run/systemd/resolve/stub-resolv.conf", path.join(root, "etc/resolv.conf"));
    await applyRunSteps(
      new Rootfs(root),
      steps(`cat /etc/resolv.conf >/dev/null; ln -sf ${canary} /etc/resolv.conf`),
    );
    expect(existsSync(canary)).toBe(false);
    expect(readlinkSync(path.join(root, "etc/resolv.conf"))).toBe(
      "../run/systemd/resolve/stub-resolv.conf",
    );
    expect(existsSync(path.join(root, "usr/sbin/policy-rc.d"))).toBe(false);
  });

  it("a plain resolv.conf comes back with its bytes and mode; none stays none", async () => {
    const root = busyboxTree("/nonexistent");
    writeFileSync(path.join(root, "etc/resolv.conf"), "nameserver 192.0.2.1\n", { mode: 0o600 });
    await applyRunSteps(new Rootfs(root), steps("echo changed > /etc/resolv.conf"));
    expect(readFileSync(path.join(root, "etc/resolv.conf"), "utf8")).toBe("nameserver 192.0.2.1\n");
    expect(lstatSync(path.join(root, "etc/resolv.conf")).mode & 0o777).toBe(0o600);

    const bare = busyboxTree("/nonexistent");
    await applyRunSteps(
      new Rootfs(bare),
      steps("rm -f /etc/resolv.conf; echo x > /etc/resolv.conf"),
    );
    expect(existsSync(path.join(bare, "etc/resolv.conf"))).toBe(false);
  });

  it("lends policy-rc.d too: the image's own (here a symlink) comes back untouched", async () => {
    const root = busyboxTree("/nonexistent");
    writeFileSync(path.join(root, "usr/lib/real-policy"), "REAL\n");
    symlinkSync("/usr/lib/real-policy", path.join(root, "usr/sbin/policy-rc.d"));
    await applyRunSteps(new Rootfs(root), steps("cat /usr/sbin/policy-rc.d"));
    expect(readlinkSync(path.join(root, "usr/sbin/policy-rc.d"))).toBe("/usr/lib/real-policy");
    expect(readFileSync(path.join(root, "usr/lib/real-policy"), "utf8")).toBe("REAL\n");
  });

  it("restores resolv.conf even when a step leaves a directory there, and keeps nothing of its own", async () => {
    const root = busyboxTree("/nonexistent");
    writeFileSync(path.join(root, "etc/resolv.conf"), "nameserver 192.0.2.1\n");
    await applyRunSteps(
      new Rootfs(root),
      steps("rm -f /etc/resolv.conf; mkdir /etc/resolv.conf; echo x > /etc/resolv.conf/y"),
    );
    expect(readFileSync(path.join(root, "etc/resolv.conf"), "utf8")).toBe("nameserver 192.0.2.1\n");
    const lent = readdirSync(path.dirname(root)).filter((f) => f.startsWith(".plinth-lent-"));
    expect(lent).toEqual([]);
    expect(readdirSync(root).filter((f) => f.startsWith("."))).toEqual([]);
  });
});
