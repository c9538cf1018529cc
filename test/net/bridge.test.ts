import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers.js";

// The bridge's bookkeeping against real ip and nft, no VM: each scenario runs in a
// network namespace of its own (`unshare -n`) that goes with it (test/fixtures/bridge-lab.ts).
const lab = (scenario: string) =>
  JSON.parse(
    execFileSync(
      "unshare",
      [
        "-n",
        process.execPath,
        "--import",
        createRequire(import.meta.url).resolve("tsx"),
        path.join(ROOT, "test", "fixtures", "bridge-lab.ts"),
        scenario,
      ],
      {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, PLINTH_HOME: mkdtempSync(path.join(os.tmpdir(), "plinth-br-")) },
      },
    ),
  ) as Record<string, unknown>;

describe("bridge leases and ownership (in a throwaway network namespace)", () => {
  it("a late stop of a VM frees its own lease, not that of a later VM of the same name", () => {
    expect(lab("lease-ids")).toEqual({ sameTap: true, secondKept: true, afterSecond: false });
  });

  it("a device of the bridge's name without plinth's mark is neither used nor removed, nor is an unmarked TAP on it", () => {
    const r = lab("foreign") as { refused: string; down: { keptForeign: boolean }; links: string };
    expect(r.refused).toBe("BRIDGE_FOREIGN: The bridge plinth0 exists and plinth did not make it.");
    expect(r.down.keptForeign).toBe(true);
    expect(r.links).toMatch(/ plinth0: /);
    expect(r.links).toMatch(/ pt0ad50009: /);
  });

  it("a bridge remade from its state is checked for overlap on the pool it records", () => {
    const r = lab("stale-subnet") as { refused: string; links: string };
    expect(r.refused).toBe(
      "SUBNET_IN_USE: 10.50.0.0/24 overlaps 10.50.0.0/16 on vpn0, which this host already routes.",
    );
    expect(r.links).not.toMatch(/ plinth0: /);
  });

  it("tables gone under a running VM come back with its rules; net down leaves nothing of plinth's", () => {
    const r = lab("tables") as { ruleset: string; after: string; links: string };
    expect(r.ruleset).toContain("table bridge plinth_plinth0");
    expect(r.ruleset).toContain("chain vm_pt0ad50002");
    expect(r.ruleset).toContain("ip daddr 203.0.113.1 tcp dport 8080 accept");
    expect(r.ruleset).toContain("chain port_pt0ad50003");
    expect(r.after).not.toContain("plinth_");
    expect(r.links).not.toMatch(/plinth0|pt0ad5/);
  });
});
