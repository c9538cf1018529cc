import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { sha256File } from "../../src/util/hash.js";
import { cli, integrationSkipReason, ROOT } from "../helpers.js";

const skip = integrationSkipReason();
const MINIMAL = path.join(ROOT, "examples", "minimal.yaml");
// The minimal image with every output: the disk formats and the OVA must repeat too.
const dir = mkdtempSync(path.join(os.tmpdir(), "plinth-repro-spec-"));
const EVERY_OUTPUT = path.join(dir, "every-output.yaml");
writeFileSync(
  EVERY_OUTPUT,
  `extends: ${MINIMAL}\noutputs: [ext4, disk, qcow2, vmdk, vmx, ova, vmlinux, firecracker]\n`,
);

/** Build a spec into a new dir with these env overrides; the sha256 of every file. */
async function build(spec: string, env: Record<string, string>): Promise<Record<string, string>> {
  const out = path.join(mkdtempSync(path.join(os.tmpdir(), "plinth-repro-")), "img");
  const r = await cli(["build", spec, "-o", out, "--json"], {
    PLINTH_HOME: mkdtempSync(path.join(os.tmpdir(), "plinth-repro-home-")),
    ...env,
  });
  expect(r.exitCode, r.stderr).toBe(0);
  const sums: Record<string, string> = {};
  for (const f of readdirSync(out).sort()) sums[f] = await sha256File(path.join(out, f));
  expect(Object.keys(sums)).toEqual(expect.arrayContaining(["rootfs.ext4", "metadata.json"]));
  // Nothing of when or how long: durations are events, not image content.
  expect(readFileSync(path.join(out, "metadata.json"), "utf8")).not.toMatch(/durationMs/);
  return sums;
}

describe.skipIf(!!skip)("bit-identical rebuilds", () => {
  it("two cold builds with SOURCE_DATE_EPOCH, each with its own empty cache, give the same bytes in every output", async () => {
    const sde = { SOURCE_DATE_EPOCH: "1764633600" };
    const cache = () => mkdtempSync(path.join(os.tmpdir(), "plinth-repro-cache-"));
    const a = await build(EVERY_OUTPUT, { ...sde, PLINTH_CACHE: cache() });
    const b = await build(EVERY_OUTPUT, { ...sde, PLINTH_CACHE: cache() });
    expect(Object.keys(a)).toHaveLength(13); // ext4's 3 files, 7 outputs, SBOM, metadata, SHA256SUMS
    expect(b).toEqual(a);
  }, 900_000);

  it("without SOURCE_DATE_EPOCH, two builds from one cached bootstrap give the same bytes", async () => {
    const a = await build(MINIMAL, {});
    await new Promise((r) => setTimeout(r, 1100)); // a clock that moved on changes nothing
    const b = await build(MINIMAL, {});
    expect(b).toEqual(a);
  }, 600_000);
});
