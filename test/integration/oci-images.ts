import { execa } from "execa";
import { existsSync, mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "vitest";
import { planBuild } from "../../src/builder/plan.js";
import { cacheDir } from "../../src/paths.js";
import { loadSpec } from "../../src/spec/load.js";
import { cli, ROOT } from "../helpers.js";

const MINIMAL = path.join(ROOT, "examples", "minimal.yaml");
const tmp = (p: string) => mkdtempSync(path.join(os.tmpdir(), `plinth-oci-${p}-`));

/** buildah, failing the test with its output; stdout trimmed (container and image ids). */
export async function buildah(...args: string[]): Promise<string> {
  const r = await execa("buildah", args, { reject: false });
  if (r.exitCode !== 0) throw new Error(`buildah ${args.join(" ")}:\n${r.stderr}`);
  return String(r.stdout).trim();
}

/**
 * The minimal example's cached Debian bootstrap tarball (built once if this machine has
 * none yet): a real distribution rootfs to make container images of, with no registry
 * outside this machine.
 */
async function debianTarball(): Promise<string> {
  const plan = planBuild(loadSpec(MINIMAL).spec!, { specFile: MINIMAL, isRoot: true });
  const tarball = path.join(cacheDir(), "bootstrap", `${plan.bootstrap.hash}.tar`);
  if (!existsSync(tarball)) {
    const r = await cli(["build", MINIMAL], { PLINTH_HOME: tmp("bootstrap") });
    expect(r.exitCode, r.stderr).toBe(0);
  }
  return tarball;
}

/**
 * A two-layer amd64 image of Debian under `tag` in buildah's local storage. Layer 1: the
 * Debian tree, with an Env, a WorkingDir and an Entrypoint as a Dockerfile would give it.
 * Layer 2: a deleted file, a replaced directory, a hard link, a symlink, an owner and a
 * setuid mode, which a plinth image built on it must keep.
 */
export async function makeBaseImage(tag: string): Promise<void> {
  const tarball = await debianTarball();
  // Layer 1: the Debian tree, with the config a Dockerfile would give it.
  const c1 = await buildah("from", "scratch");
  await buildah("add", c1, tarball, "/");
  await buildah(
    "config",
    "--env",
    "GREETING=hello from the image",
    "--env",
    "PATH=/opt/tool/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "--workingdir",
    "/srv/app",
    "--entrypoint",
    '["/bin/sh", "-c", "echo \\"entrypoint ran in $(pwd)\\" > /run/entrypoint.out; exec sleep infinity"]',
    "--arch",
    "amd64",
    c1,
  );
  // Layer 2: a deleted file, a replaced directory, links, owners and modes.
  const script = [
    "rm /etc/motd",
    "rm -rf /usr/share/doc/apt && mkdir /usr/share/doc/apt && echo new > /usr/share/doc/apt/only",
    "mkdir -p /srv/app /opt/tool/bin",
    "echo data > /srv/app/data && chown 1234:2345 /srv/app/data && chmod 4751 /srv/app/data",
    "ln /srv/app/data /srv/app/hard && ln -s data /srv/app/soft",
    "printf '#!/bin/sh\\necho tool-ok\\n' > /opt/tool/bin/tool && chmod 755 /opt/tool/bin/tool",
  ].join(" && ");
  await buildah("run", "--isolation", "chroot", c1, "--", "/bin/sh", "-ec", script);
  await buildah("commit", "-q", "--rm", c1, tag);
}
