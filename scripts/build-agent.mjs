#!/usr/bin/env node
// Build the guest agent (agent/, a Go module, standard library only) into one static
// binary per architecture: dist/guest/plinth-agent-linux-amd64 and -arm64. The flags
// make the build reproducible: the same sources and Go give the same bytes on any
// machine, in any directory.
//
// Usage: node scripts/build-agent.mjs [--outdir DIR] [--arch amd64,arm64] [--check] [--optional]
//   --check     build everything a second time (fresh build cache, another source
//               directory) and fail unless the bytes are identical
//   --optional  without a Go toolchain, warn and exit 0 instead of failing (e.g. during
//               `npm ci` on a fresh machine, before `plinth doctor --fix` installed Go)
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const option = (name) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
};
const outdir = path.resolve(option("--outdir") ?? path.join(root, "dist", "guest"));
const arches = (option("--arch") ?? "amd64,arm64").split(",");
const check = args.includes("--check");
const optional = args.includes("--optional");
const { version } = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
/** The size the agent must stay under (stripped). */
const MAX_BYTES = 6 * 1024 * 1024;

const go = spawnSync("go", ["version"], { encoding: "utf8" });
if (go.status !== 0) {
  const message =
    "build-agent: no Go toolchain (`go`) found; `plinth doctor --fix` installs golang-go.";
  if (optional) {
    console.error(`${message} Skipping the agent build.`);
    process.exit(0);
  }
  console.error(message);
  process.exit(1);
}

/** Build one architecture from the module in `srcdir` into `outfile`. */
function build(srcdir, arch, outfile, env = {}) {
  const tmp = `${outfile}.tmp-${process.pid}`;
  try {
    execFileSync(
      "go",
      [
        "build",
        "-trimpath",
        "-buildvcs=false",
        `-ldflags=-s -w -buildid= -X main.version=${version}`,
        "-o",
        tmp,
        ".",
      ],
      {
        cwd: srcdir,
        stdio: ["ignore", "inherit", "inherit"],
        env: {
          ...process.env,
          ...env,
          CGO_ENABLED: "0",
          GOOS: "linux",
          GOARCH: arch,
          // Pinned so the environment cannot change the code generated.
          GOAMD64: "v1",
          GOARM: "",
          GOFLAGS: "",
          GOEXPERIMENT: "",
          GO111MODULE: "on",
          GOPROXY: "off",
          GOTOOLCHAIN: "local",
        },
      },
    );
    renameSync(tmp, outfile);
  } finally {
    rmSync(tmp, { force: true });
  }
}

const sha256 = (file) => createHash("sha256").update(readFileSync(file)).digest("hex");

mkdirSync(outdir, { recursive: true });
const built = [];
for (const arch of arches) {
  const outfile = path.join(outdir, `plinth-agent-linux-${arch}`);
  build(path.join(root, "agent"), arch, outfile);
  const size = statSync(outfile).size;
  if (size > MAX_BYTES) {
    console.error(`build-agent: ${outfile} is ${size} bytes, over the ${MAX_BYTES} allowed`);
    process.exit(1);
  }
  built.push({ arch, outfile, size, sum: sha256(outfile) });
  console.error(
    `build-agent: ${path.relative(root, outfile)} (${version}, ${size} bytes, sha256 ${built.at(-1).sum.slice(0, 16)}…)`,
  );
}

if (check) {
  // Another directory and an empty build cache: nothing may depend on either.
  const tmp = mkdtempSync(path.join(os.tmpdir(), "plinth-agent-repro-"));
  try {
    const src = path.join(tmp, "elsewhere", "agent");
    cpSync(path.join(root, "agent"), src, { recursive: true });
    for (const { arch, sum } of built) {
      const again = path.join(tmp, `plinth-agent-linux-${arch}`);
      build(src, arch, again, { GOCACHE: path.join(tmp, "gocache") });
      if (sha256(again) !== sum) {
        console.error(`build-agent: ${arch} is not reproducible (${sha256(again)} != ${sum})`);
        process.exit(1);
      }
      console.error(`build-agent: ${arch} rebuilt from scratch elsewhere: identical`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
