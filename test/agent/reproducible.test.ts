import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, tempFiles } from "../helpers.js";

describe("the agent build", () => {
  it("gives the same bytes from another directory and an empty build cache", () => {
    // --check rebuilds from a copy of agent/ elsewhere with a fresh GOCACHE and fails
    // unless every byte is the same.
    const script = path.join(ROOT, "scripts/build-agent.mjs");
    const r = spawnSync("node", [script, "--check", "--arch", "amd64", "--outdir", tempFiles({})], {
      encoding: "utf8",
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain("amd64 rebuilt from scratch elsewhere: identical");
  }, 300_000);
});
