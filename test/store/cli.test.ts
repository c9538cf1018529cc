import { existsSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cli } from "../helpers.js";
import { fakeQemu, slot, tempStore, vm } from "./fixtures.js";

describe("plinth images, rm and prune", () => {
  let store: ReturnType<typeof tempStore>;
  let env: Record<string, string>;
  beforeEach(() => {
    store = tempStore();
    env = { PLINTH_HOME: store.home, PLINTH_CACHE: store.cache };
  });
  afterEach(() => store.restore());

  it("images lists sizes and users; rm refuses a used image (exit 2) and removes an unused one", async () => {
    const used = slot("demo", "0.2.0", "b");
    const spare = slot("demo", "0.1.0", "a");
    const qemu = await fakeQemu();
    try {
      vm(store.home, "web", used, qemu.pid);
      const human = await cli(["images"], env);
      expect(human.exitCode).toBe(0);
      expect(human.stdout.split("\n")[0]).toMatch(/^NAME +VERSION +BUILD +SIZE +CREATED +IN USE$/);
      expect(human.stdout).toMatch(/demo +0\.2\.0 +b{12} +\d+(\.\d)?K +2026-12-02 00:00 +web\n/);
      const json = JSON.parse((await cli(["images", "--json"], env)).stdout) as {
        dir: string;
        vms: string[];
      }[];
      expect(json.map((i) => [i.dir, i.vms])).toEqual([
        [used, ["web"]],
        [spare, []],
      ]);
      const refused = await cli(["rm", "demo:0.2.0"], env);
      expect(refused.exitCode).toBe(2);
      expect(refused.stderr).toContain('is used by VM "web"');
      expect(refused.stderr).toContain("plinth stop web");
      const ok = await cli(["rm", "demo:0.1.0"], env);
      expect(ok.exitCode).toBe(0);
      expect(ok.stdout).toMatch(/^removed demo:0\.1\.0\+a{12} \(.+ freed\)$/);
      expect(existsSync(spare)).toBe(false);
    } finally {
      qemu.kill();
    }
  });

  it("prune reports what it removed, and a bad PLINTH_CACHE_MAX fails before anything goes", async () => {
    const old = slot("demo", "0.1.0", "a");
    slot("demo", "0.2.0", "b");
    const bad = await cli(["prune"], { ...env, PLINTH_CACHE_MAX: "huge" });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('PLINTH_CACHE_MAX="huge" is not a size.');
    expect(bad.stderr).toMatch(/512M, 20G/);
    expect(existsSync(old)).toBe(true);
    const r = await cli(["prune"], env);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(
      /^removed demo:0\.1\.0\+a{12} \(.+\)\nfreed .+; the cache holds 0B \(cap 20G\)$/,
    );
    expect(existsSync(old)).toBe(false);
  });
});
