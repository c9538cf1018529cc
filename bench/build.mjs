#!/usr/bin/env node
// bench/build: cold build, warm rebuild after changing one file, and the floor — plain
// mmdebstrap + mke2fs of the same package set — all measured in this run, so the
// ratios hold even though absolute times drift on shared machines. Then one more warm
// build with every output: the time each output's stage adds.
//
//   sudo npm run bench:build            (needs root and the mirror; ~2-3 minutes)
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";

const root = path.resolve(import.meta.dirname, "..");
const scratch = mkdtempSync(path.join(os.tmpdir(), "plinth-bench-"));
// A private, empty cache: the cold build downloads every package like the floor does.
process.env.PLINTH_CACHE = path.join(scratch, "cache");
process.env.PLINTH_HOME = path.join(scratch, "home");
const { buildImage, loadSpec, planBuild, mmdebstrapArgv } = await import("../dist/index.js");

const spec = path.join(scratch, "bench.yaml");
const writeSpec = (n, more = "") =>
  writeFileSync(
    spec,
    `extends: ${path.join(root, "examples/minimal.yaml")}\nname: bench\nfiles:\n  - path: /etc/bench\n    content: "${n}"\n${more}`,
  );
const OUTPUT_STAGES = ["disk", "qcow2", "vmdk", "vmx", "ova", "vmlinux", "firecracker"];

async function time(fn) {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

async function floor() {
  writeSpec(0);
  const plan = planBuild(loadSpec(spec).spec, { specFile: spec });
  const dir = mkdtempSync(path.join("/dev/shm", "plinth-floor-"));
  const img = path.join(scratch, "floor.ext4");
  try {
    return await time(async () => {
      const argv = mmdebstrapArgv(plan.bootstrap, dir).map((a) =>
        a === "--format=tar" ? "--format=directory" : a,
      );
      await execa(argv[0], argv.slice(1));
      await execa("mke2fs", ["-q", "-F", "-t", "ext4", "-d", dir, img, "2G"]);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(img, { force: true });
  }
}

try {
  const floorS = await floor();
  writeSpec(1);
  const coldS = await time(() =>
    buildImage({ specFile: spec, outDir: path.join(scratch, "cold") }),
  );
  writeSpec(2);
  const warmS = await time(() =>
    buildImage({ specFile: spec, outDir: path.join(scratch, "warm") }),
  );
  // Each extra output, as the extra time its stage adds to that same warm build.
  writeSpec(3, "outputs: [ext4, disk, qcow2, vmdk, vmx, ova, vmlinux, firecracker]\n");
  const extra = new Map();
  await buildImage({
    specFile: spec,
    outDir: path.join(scratch, "outputs"),
    onEvent: (e) => {
      if (e.type === "stage:end" && OUTPUT_STAGES.includes(e.stage))
        extra.set(e.stage, e.durationMs / 1000);
    },
  });
  const r = (x) => x.toFixed(2);
  console.log(`floor (mmdebstrap + mke2fs)  ${r(floorS)} s`);
  console.log(
    `cold build                   ${r(coldS)} s   ${r(coldS / floorS)}x floor   (target <= 1.30x)`,
  );
  console.log(
    `warm rebuild (one file)      ${r(warmS)} s   ${r(warmS / coldS)}x cold    (target <= 0.25x)`,
  );
  for (const [stage, s] of extra)
    console.log(`  + ${stage.padEnd(26)} ${r(s)} s   ${r(s / warmS)}x warm rebuild`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
