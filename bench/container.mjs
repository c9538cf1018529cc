#!/usr/bin/env node
// bench/container: a plinth image from a container image, against the floor of doing it by
// hand — untar the image's layer and `mke2fs -d` it (Bouvet's `docker export | mke2fs -d`,
// minus the export) — both measured in this run. The image is an OCI layout that buildah
// makes of the minimal example's cached Debian bootstrap (build it once first), so no
// registry outside this machine is involved.
//
//   sudo npm run bench:container        (needs root, buildah; ~2 minutes)
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";

const root = path.resolve(import.meta.dirname, "..");
const { buildImage, loadSpec, planBuild } = await import("../dist/index.js");
const minimal = path.join(root, "examples/minimal.yaml");
const tarball = path.join(
  process.env.PLINTH_CACHE ?? path.join(os.homedir(), ".cache/plinth"),
  "bootstrap",
  `${planBuild(loadSpec(minimal).spec, { specFile: minimal, isRoot: true }).bootstrap.hash}.tar`,
);
if (!existsSync(tarball)) {
  console.error(`no cached Debian bootstrap at ${tarball}: run \`plinth build ${minimal}\` first`);
  process.exit(2);
}
const scratch = mkdtempSync(path.join(os.tmpdir(), "plinth-bench-container-"));
// A private cache and store: the cold build unpacks the image, as the floor does.
process.env.PLINTH_CACHE = path.join(scratch, "cache");
process.env.PLINTH_HOME = path.join(scratch, "home");

const buildah = (...args) => execa("buildah", args).then((r) => r.stdout.trim());
async function time(fn) {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

const layout = path.join(scratch, "layout");
const c = await buildah("from", "scratch");
await buildah("add", c, tarball, "/");
await buildah("commit", "-q", "--rm", c, "plinth-bench/base:1");
await buildah("push", "-q", "plinth-bench/base:1", `oci:${layout}`);
await buildah("rmi", "plinth-bench/base:1");

const spec = path.join(scratch, "bench.yaml");
const writeSpec = (n) =>
  writeFileSync(
    spec,
    `name: bench\nversion: 1.0.0\nbase: { oci-layout: ${layout} }\ninit: minimal\nagent: true\nfiles:\n  - path: /etc/bench\n    content: "${n}"\n`,
  );

try {
  const floorS = await time(async () => {
    const dir = mkdtempSync(path.join("/dev/shm", "plinth-floor-"));
    try {
      const blob = (digest) => path.join(layout, "blobs", ...digest.split(":"));
      const index = JSON.parse(readFileSync(path.join(layout, "index.json"), "utf8"));
      const manifest = JSON.parse(readFileSync(blob(index.manifests[0].digest), "utf8"));
      for (const l of manifest.layers)
        await execa("tar", ["-x", "--numeric-owner", "-p", "-f", blob(l.digest), "-C", dir]);
      await execa("mke2fs", [
        "-q",
        "-F",
        "-t",
        "ext4",
        "-d",
        dir,
        path.join(scratch, "floor.ext4"),
        "2G",
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(path.join(scratch, "floor.ext4"), { force: true });
    }
  });
  writeSpec(1);
  const coldS = await time(() =>
    buildImage({ specFile: spec, outDir: path.join(scratch, "cold") }),
  );
  writeSpec(2);
  const warmS = await time(() =>
    buildImage({ specFile: spec, outDir: path.join(scratch, "warm") }),
  );
  const r = (x) => x.toFixed(2);
  console.log(`floor (untar layers + mke2fs)   ${r(floorS)} s`);
  console.log(`cold build from the OCI layout  ${r(coldS)} s   ${r(coldS / floorS)}x floor`);
  console.log(`warm rebuild (one file)         ${r(warmS)} s   ${r(warmS / coldS)}x cold`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
