import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { cli, integrationSkipReason, ROOT } from "../helpers.js";

const skip = integrationSkipReason();
const env = { PLINTH_HOME: mkdtempSync(path.join(os.tmpdir(), "plinth-examples-")) };
// Exactly the override the seeds' examples are checked with on this Debian-only machine.
const DEBIAN = ["--set", "base.distro=debian", "--set", "base.suite=bookworm"];

describe.skipIf(!!skip)("seed examples: build, then plinth check, with the Debian override", () => {
  it.each(["bouvet-devbox"])(
    "%s",
    async (name) => {
      const r = await cli(
        ["check", path.join(ROOT, "examples", `${name}.yaml`), ...DEBIAN, "--json"],
        env,
      );
      const report = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as {
        passed: number;
        failed: number;
        results: { ok: boolean; group: string; name: string; actual: string }[];
      };
      expect(report.results.filter((x) => !x.ok)).toEqual([]);
      expect(report.passed).toBeGreaterThan(20);
      expect(r.exitCode).toBe(0);
    },
    1_200_000,
  );
});
