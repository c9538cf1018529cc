import { execa } from "execa";
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { debugfsStat } from "../../src/image/ext4-files.js";
import { cli, integrationSkipReason, ROOT } from "../helpers.js";
import { buildah, makeBaseImage } from "./oci-images.js";
import { startRegistry, type Registry } from "./servers.js";

const skip = integrationSkipReason();
const tmp = (p: string) => mkdtempSync(path.join(os.tmpdir(), `plinth-oci-${p}-`));
const json = (stdout: string) =>
  JSON.parse(stdout.trim().split("\n").pop()!) as Record<string, unknown>;

describe.skipIf(!!skip)("container images as bases, from a real registry and buildah", () => {
  let registry: Registry;
  let env: Record<string, string>;
  let base: string;
  const vms: string[] = [];

  beforeAll(async () => {
    registry = await startRegistry();
    env = { PLINTH_HOME: tmp("home"), PLINTH_INSECURE_REGISTRIES: registry.addr };
    await makeBaseImage("plinth-test/base:amd64");
    // An arm64 image under the same index, which an amd64 build must not take.
    const c2 = await buildah("from", "scratch");
    const arm = tmp("arm");
    writeFileSync(path.join(arm, "ARM64"), "wrong arch\n");
    await buildah("copy", c2, path.join(arm, "ARM64"), "/ARM64");
    await buildah("config", "--arch", "arm64", c2);
    await buildah("commit", "-q", "--rm", c2, "plinth-test/base:arm64");
    await buildah("manifest", "rm", "plinth-test/multi").catch(() => undefined);
    await buildah("manifest", "create", "plinth-test/multi");
    for (const arch of ["amd64", "arm64"])
      await buildah(
        "manifest",
        "add",
        "--arch",
        arch,
        "plinth-test/multi",
        `plinth-test/base:${arch}`,
      );
    base = `${registry.addr}/test/base:1`;
    await buildah("push", "-q", "--tls-verify=false", "plinth-test/base:amd64", `docker://${base}`);
    await buildah(
      "manifest",
      "push",
      "-q",
      "--all",
      "--tls-verify=false",
      "plinth-test/multi",
      `docker://${registry.addr}/test/multi:1`,
    );
  }, 900_000);

  afterAll(async () => {
    for (const vm of vms) await cli(["stop", vm], env);
    await registry?.stop();
    await buildah("rmi", "-f", "plinth-test/base:amd64", "plinth-test/base:arm64").catch(() => "");
    await buildah("manifest", "rm", "plinth-test/multi").catch(() => "");
  });

  it("builds from a manifest index (taking the amd64 entry), keeps the layers' changes and the image's config, and runs its entrypoint", async () => {
    const dir = tmp("spec");
    const spec = path.join(dir, "plinth.yaml");
    writeFileSync(
      spec,
      [
        "name: from-oci",
        "version: 1.0.0",
        `base: { image: "${registry.addr}/test/multi:1" }`,
        "oci: { entrypoint: service }",
        "packages: [tree]", // not in the image: installed with its apt
        "init: minimal",
        "agent: true",
        "",
      ].join("\n"),
    );
    const b = await cli(["build", spec, "--json"], env);
    expect(b.exitCode, b.stderr).toBe(0);
    const imageDir = json(b.stdout).imageDir as string;
    const meta = JSON.parse(readFileSync(path.join(imageDir, "metadata.json"), "utf8")) as {
      base: Record<string, string>;
    };
    expect(meta.base).toMatchObject({ distro: "debian", suite: "bookworm" });
    expect(meta.base.image).toMatch(
      new RegExp(`^${registry.addr}/test/multi:1@sha256:[0-9a-f]{64}$`),
    );

    const name = `oci-${process.pid}`;
    const run = await cli(["run", "-d", "--name", name, imageDir], env);
    expect(run.exitCode, run.stderr).toBe(0);
    vms.push(name);
    // stdout as execa gives it: without its final newline.
    const sh = async (script: string) => {
      const r = await cli(["exec", name, "--", "/bin/sh", "-c", script], env);
      expect(r.exitCode, r.stderr).toBe(0);
      return r.stdout;
    };
    // The layers: whiteouts, an opaque directory, links, owners and modes as the tar had them.
    expect(await sh("test ! -e /etc/motd && test ! -e /ARM64 && echo gone")).toBe("gone");
    expect(await sh("ls /usr/share/doc/apt && cat /usr/share/doc/apt/only")).toBe("only\nnew");
    expect(await sh("stat -c '%u:%g:%a:%h' /srv/app/data; readlink /srv/app/soft")).toBe(
      "1234:2345:4751:2\ndata",
    );
    expect(
      await sh("[ $(stat -c %i /srv/app/data) = $(stat -c %i /srv/app/hard) ] && echo same"),
    ).toBe("same");
    // The config: Env (PATH included) and WorkingDir for every exec, and the entrypoint.
    expect(await sh('echo "$GREETING|$(pwd)"; tool')).toBe(
      "hello from the image|/srv/app\ntool-ok",
    );
    expect(await sh("cat /run/entrypoint.out")).toBe("entrypoint ran in /srv/app");
    expect(await sh("tree --version | cut -d' ' -f1")).toBe("tree");
  }, 1_200_000);

  it("takes the same image from an OCI archive and from a docker-archive tarball", async () => {
    const dir = tmp("tarballs");
    const layout = path.join(dir, "oci");
    await buildah("push", "-q", "plinth-test/base:amd64", `oci:${layout}`);
    for (const [format, file] of [
      ["oci-archive", "image.oci.tar"],
      ["docker-archive", "image.docker.tar"],
    ] as const) {
      await execa("skopeo", ["copy", "-q", `oci:${layout}`, `${format}:${path.join(dir, file)}`]);
      const spec = path.join(dir, `${format}.yaml`);
      writeFileSync(
        spec,
        `name: from-${format}\nversion: 1.0.0\nbase: { tarball: ${file} }\ninit: minimal\nagent: true\n`,
      );
      const b = await cli(["build", spec, "--json"], env);
      expect(b.exitCode, b.stderr).toBe(0);
      const imageDir = json(b.stdout).imageDir as string;
      const meta = JSON.parse(readFileSync(path.join(imageDir, "metadata.json"), "utf8")) as {
        base: { image: string; suite: string };
      };
      expect(meta.base.image).toMatch(new RegExp(`^tarball:.*${file}@sha256:[0-9a-f]{64}$`));
      expect(meta.base.suite).toBe("bookworm");
      // The second layer's owner and mode made it through the archive.
      expect(await debugfsStat(path.join(imageDir, "rootfs.ext4"), "/srv/app/data")).toMatchObject({
        uid: 1234,
        gid: 2345,
        mode: "4751",
      });
    }
  }, 900_000);

  it("refuses a layer whose bytes do not match its digest, and builds nothing", async () => {
    const layout = path.join(tmp("layout"), "oci");
    await buildah("push", "-q", "plinth-test/base:amd64", `oci:${layout}`);
    const blobs = path.join(layout, "blobs", "sha256");
    // The biggest blob is the Debian layer.
    const sizes = readdirSync(blobs).map(
      (b) => [b, readFileSync(path.join(blobs, b)).length] as const,
    );
    const layer = sizes.sort((a, b) => b[1] - a[1])[0]![0];
    appendFileSync(path.join(blobs, layer), "tampered");
    const spec = path.join(tmp("spec"), "plinth.yaml");
    writeFileSync(
      spec,
      `name: tampered\nversion: 1.0.0\nbase: { oci-layout: ${layout} }\ninit: minimal\nagent: true\n`,
    );
    const home = { PLINTH_HOME: tmp("home") };
    // --no-cache: the first test cached this very manifest's tree (same digest).
    const b = await cli(["build", spec, "--no-cache"], home);
    expect(b.exitCode).toBe(2);
    expect(b.stderr).toContain(`layer sha256:${layer} does not match its digest`);
    expect(existsSync(path.join(home.PLINTH_HOME, "images", "tampered"))).toBe(false);
  });

  it("the Bouvet example's Dockerfile variant builds with buildah (FROM a local image, RUN, COPY, ENV, WORKDIR) and passes plinth check", async () => {
    const r = await cli(
      [
        "check",
        path.join(ROOT, "examples", "bouvet-devbox-dockerfile.yaml"),
        "--set",
        `base.args.BASE=${base}`,
        "--json",
      ],
      env,
    );
    const report = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as {
      passed: number;
      accel: string;
      results: { ok: boolean; group: string; skipped?: string }[];
    };
    expect(report.results.filter((x) => !x.ok)).toEqual([]);
    expect(report.passed).toBeGreaterThanOrEqual(27);
    expect(
      report.results
        .filter((x) => x.skipped)
        .every((x) => x.group === "boot" && report.accel === "tcg"),
    ).toBe(true);
    expect(r.exitCode).toBe(0);
  }, 3_600_000);
});
