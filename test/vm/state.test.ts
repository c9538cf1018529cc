import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { UserError } from "../../src/errors.js";
import { claimVm, listVms, readVm, removeVm, vmPaths, vmsDir } from "../../src/vm/state.js";
import { cli, tempFiles } from "../helpers.js";

describe("VM state never reaches outside $PLINTH_HOME/vms", () => {
  let saved: string | undefined;
  let home: string;
  beforeEach(() => {
    saved = process.env.PLINTH_HOME;
    home = tempFiles({});
    process.env.PLINTH_HOME = home;
    // What a name like ".." would have taken for a stale VM dir: the image store.
    mkdirSync(path.join(home, "images", "demo"), { recursive: true });
    writeFileSync(path.join(home, "images", "demo", "keep"), "precious");
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.PLINTH_HOME;
    else process.env.PLINTH_HOME = saved;
  });

  it("refuses names that are not one plain path component, before touching anything", async () => {
    for (const name of ["..", "../images", "../../..", "/etc", "a/b", "", "Dev", "x".repeat(64)]) {
      await expect(claimVm(name)).rejects.toBeInstanceOf(UserError);
      await expect(removeVm(name)).rejects.toThrow(/Invalid VM name/);
      expect(() => readVm(name)).toThrow(/Invalid VM name/);
    }
    expect(existsSync(path.join(home, "images", "demo", "keep"))).toBe(true);
    expect(() => vmPaths("ok-name_1.2")).not.toThrow();
  });

  it("removes only the files plinth made in a VM dir, and keeps a dir holding others", async () => {
    const p = await claimVm("dev");
    writeFileSync(p.config, "{ not json");
    writeFileSync(p.consoleLog, "boot");
    writeFileSync(path.join(p.dir, "notes.txt"), "the user's");
    await removeVm("dev");
    expect(readdirSync(p.dir)).toEqual(["notes.txt"]);
    await expect(claimVm("dev")).rejects.toThrow(/holds files plinth did not create/);
  });

  it("lists past a corrupt state file and leaves dirs with other names alone", async () => {
    const p = await claimVm("broken");
    writeFileSync(p.config, JSON.stringify({ name: "broken", memMiB: "lots" }));
    expect(() => readVm("broken")).toThrow(/not one this plinth can read at image/);
    mkdirSync(path.join(vmsDir(), "Not A VM"));
    expect(await listVms(true)).toEqual([]);
    expect(existsSync(p.dir)).toBe(false); // stale state of plinth's own: gone
    expect(existsSync(path.join(vmsDir(), "Not A VM"))).toBe(true);
  });

  it("a VM still starting (claimed, no config yet) is neither stale nor claimable twice", async () => {
    const p = await claimVm("booting");
    expect(await listVms(true)).toEqual([]);
    expect(existsSync(p.dir)).toBe(true); // not taken for stale state
    await expect(claimVm("booting")).rejects.toThrow(/already running/);
    // A claim whose process is gone is stale: the name can be taken again.
    writeFileSync(path.join(p.dir, "claim.pid"), "999999999\n");
    await expect(claimVm("booting")).resolves.toMatchObject({ dir: p.dir });
  });

  it("refuses a state file that names another VM, and a VM dir that is a link", async () => {
    const p = await claimVm("foo");
    writeFileSync(p.config, JSON.stringify({ ...(await keptConfig("bar")) }));
    expect(() => readVm("foo")).toThrow(/names another VM \("bar"\)/);
    const elsewhere = tempFiles({ "config.json": "{}", "notes.txt": "x" });
    symlinkSync(elsewhere, path.join(vmsDir(), "linked"));
    await expect(removeVm("linked")).rejects.toThrow(/symbolic link/);
    expect(readdirSync(elsewhere).sort()).toEqual(["config.json", "notes.txt"]);
  });

  it("the CLI says so with exit 2", async () => {
    for (const args of [
      ["exec", "..", "--", "true"],
      ["stop", "../images"],
      ["logs", ".."],
    ]) {
      const r = await cli(args, { PLINTH_HOME: home, PATH: process.env.PATH ?? "" });
      expect(r.exitCode, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/Invalid VM name/);
    }
    expect(existsSync(path.join(home, "images", "demo", "keep"))).toBe(true);
  });
});

/** A valid config.json body of a VM plinth stopped and kept. */
async function keptConfig(name: string) {
  return {
    name,
    image: "/nonexistent",
    imageName: "minimal",
    imageVersion: "0.1.0",
    accel: "tcg",
    memMiB: 1024,
    cpus: 1,
    detached: false,
    created: "2026-12-02T00:00:00.000Z",
    status: "exited",
  };
}
