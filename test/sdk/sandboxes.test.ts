import { readdirSync, writeFileSync, existsSync } from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { NotFoundError, UserError } from "../../src/errors.js";
import {
  isSandboxRunning,
  listSandboxes,
  removeSandbox,
  Sandbox,
  sandboxInfo,
  sandboxLogPath,
} from "../../src/sdk/index.js";
import { keptVm as keptVmIn, tempFiles } from "../helpers.js";

let home: string;
const saved = process.env.PLINTH_HOME;
beforeEach(() => {
  home = tempFiles({});
  process.env.PLINTH_HOME = home;
});
afterEach(() => {
  if (saved === undefined) delete process.env.PLINTH_HOME;
  else process.env.PLINTH_HOME = saved;
});

/** State of a VM plinth stopped with its state kept (no QEMU behind it). */
const keptVm = (name: string) => keptVmIn(home, name, "hello\n");

describe("sandboxes on disk", () => {
  it("lists kept sandboxes only with all, and describes one", async () => {
    keptVm("a");
    expect(await listSandboxes()).toEqual([]);
    expect(await listSandboxes({ all: true })).toEqual([
      expect.objectContaining({ name: "a", imageName: "minimal", running: false }),
    ]);
    expect(sandboxInfo("a")).toMatchObject({ name: "a", running: false, accel: "tcg" });
    expect(isSandboxRunning("a")).toBe(false);
    expect(isSandboxRunning("nope")).toBe(false);
    expect(sandboxLogPath("a")).toBe(path.join(home, "vms", "a", "console.log"));
  });

  it("an unknown name is a NotFoundError, an invalid one a UserError", async () => {
    expect(() => sandboxInfo("nope")).toThrow(NotFoundError);
    expect(() => sandboxLogPath("nope")).toThrow(NotFoundError);
    expect(() => sandboxInfo("../etc")).toThrow(UserError);
    await expect(Sandbox.connect("nope")).rejects.toBeInstanceOf(NotFoundError);
    await expect(removeSandbox("..")).rejects.toMatchObject({ code: "BAD_NAME" });
  });

  it("removeSandbox removes kept state, is a no-op without any, and keeps foreign files", async () => {
    const dir = keptVm("a");
    await removeSandbox("a");
    expect(existsSync(dir)).toBe(false);
    await removeSandbox("a");
    const other = keptVm("b");
    writeFileSync(path.join(other, "mine.txt"), "not plinth's");
    await expect(removeSandbox("b")).rejects.toMatchObject({ code: "STATE_NOT_REMOVED" });
    expect(readdirSync(other)).toEqual(["mine.txt"]);
  });

  it("connect to a VM that is not running says so", async () => {
    keptVm("a");
    await expect(Sandbox.connect("a")).rejects.toMatchObject({ code: "VM_GONE" });
  });
});
