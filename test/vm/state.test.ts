import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
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
