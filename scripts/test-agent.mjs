#!/usr/bin/env node
// Check the Go guest agent (agent/): gofmt (must list no file), go vet, go test.
// Usage: node scripts/test-agent.mjs [--race] [--fuzz DURATION]
//   --race           run the tests under the race detector (needs cgo and a C compiler)
//   --fuzz 30s       then run each fuzz target for that long (go test -fuzz)
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const cwd = path.join(root, "agent");
const args = process.argv.slice(2);
const race = args.includes("--race");
const fuzzAt = args.indexOf("--fuzz");
const fuzzTime = fuzzAt >= 0 ? args[fuzzAt + 1] : undefined;
const env = { ...process.env, GOFLAGS: "", GOPROXY: "off", GO111MODULE: "on" };

function run(argv, { capture = false } = {}) {
  console.error(`test-agent: ${argv.join(" ")}`);
  const r = spawnSync(argv[0], argv.slice(1), {
    cwd,
    env,
    encoding: "utf8",
    stdio: capture ? ["ignore", "pipe", "inherit"] : "inherit",
  });
  if (r.error) {
    console.error(`test-agent: cannot run ${argv[0]}: ${r.error.message}`);
    console.error("test-agent: `plinth doctor --fix` installs the Go toolchain (golang-go).");
    process.exit(1);
  }
  if (r.status !== 0) process.exit(r.status ?? 1);
  return r.stdout;
}

const unformatted = run(["gofmt", "-l", "."], { capture: true }).trim();
if (unformatted) {
  console.error(`test-agent: not gofmt-formatted (run gofmt -w agent):\n${unformatted}`);
  process.exit(1);
}
run(["go", "vet", "./..."]);
run(["go", "test", ...(race ? ["-race"] : []), "-count=1", "./..."]);
if (fuzzTime) {
  for (const [pkg, target] of [
    ["./internal/wire", "FuzzDecoder"],
    ["./internal/agent", "FuzzParseRequest"],
  ]) {
    run(["go", "test", pkg, "-run", "^$", "-fuzz", `^${target}$`, "-fuzztime", fuzzTime]);
  }
}
