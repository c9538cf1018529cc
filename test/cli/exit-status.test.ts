import { CommanderError } from "commander";
import { describe, expect, it } from "vitest";
import { AgentExecError, AgentTimeoutError } from "../../src/agent/client/index.js";
import { combinedExitStatus, commandExitStatus, exitStatusOf } from "../../src/cli/exit-status.js";
import {
  BootError,
  CancelledError,
  MissingToolError,
  NotFoundError,
  PlinthError,
  SpecError,
  ToolError,
  UserError,
} from "../../src/errors.js";
import { NoAgentError } from "../../src/sdk/index.js";

describe("exitStatusOf", () => {
  it("maps user errors to 2, cancellation to 130, everything else to 1", () => {
    expect(exitStatusOf(new UserError("X", "x"))).toBe(2);
    expect(exitStatusOf(new SpecError([]))).toBe(2);
    expect(exitStatusOf(new MissingToolError(["qemu-img"]))).toBe(2);
    expect(exitStatusOf(new NotFoundError("no"))).toBe(2);
    expect(exitStatusOf(new NoAgentError("vm", "img 1.0.0"))).toBe(2);
    expect(exitStatusOf(new CancelledError("boot"))).toBe(130);
    expect(exitStatusOf(new BootError("no"))).toBe(1);
    expect(exitStatusOf(new PlinthError("X", "x"))).toBe(1);
    expect(exitStatusOf(new AgentTimeoutError("hello", 1))).toBe(1);
    expect(exitStatusOf(new ToolError("s", ["false"], 1, undefined, ""))).toBe(1);
    expect(exitStatusOf(new Error("bug"))).toBe(1);
    expect(exitStatusOf("thrown string")).toBe(1);
  });

  it("maps commander's usage errors to 2, help and --version to 0", () => {
    expect(exitStatusOf(new CommanderError(1, "commander.unknownOption", "bad"))).toBe(2);
    expect(exitStatusOf(new CommanderError(0, "commander.helpDisplayed", "help"))).toBe(0);
  });

  it("library errors carry a code and a hint, not an exit status", () => {
    const e = new NotFoundError("No image.", "Build it.");
    expect(e).toMatchObject({ code: "NOT_FOUND", hint: "Build it." });
    expect("exitCode" in e).toBe(false);
    expect("exitCode" in new CancelledError("x")).toBe(false);
  });

  it("AgentExecError's exitCode and signal are the guest command's", () => {
    const e = new AgentExecError(["sh", "-c", "exit 3"], 3, null, false, "bad");
    expect(e).toMatchObject({ code: "EXEC_FAILED", exitCode: 3, signal: null, hint: /bad/ });
    expect(e.message).toBe("`sh -c exit 3` exited with 3 in the guest");
    const killed = new AgentExecError("sleep 9", null, "SIGKILL", true, "");
    expect(killed).toMatchObject({ exitCode: null, signal: "SIGKILL", timedOut: true });
    expect(exitStatusOf(e)).toBe(1);
  });
});

describe("combinedExitStatus", () => {
  it("is 0 without failures, 2 when all were the user's, 1 when any was not", () => {
    expect(combinedExitStatus([])).toBe(0);
    expect(combinedExitStatus([new NotFoundError("a"), new UserError("B", "b")])).toBe(2);
    expect(combinedExitStatus([new NotFoundError("a"), new PlinthError("X", "x")])).toBe(1);
    expect(combinedExitStatus([new CancelledError("stop")])).toBe(130);
  });
});

describe("commandExitStatus", () => {
  it("is the exit code, or 128 + n for signal n", () => {
    expect(commandExitStatus({ exitCode: 0, signal: null })).toBe(0);
    expect(commandExitStatus({ exitCode: 3, signal: null })).toBe(3);
    expect(commandExitStatus({ exitCode: null, signal: "SIGKILL" })).toBe(137);
    expect(commandExitStatus({ exitCode: null, signal: "SIGTERM" })).toBe(143);
    expect(commandExitStatus({ exitCode: null, signal: null })).toBe(129);
  });
});
