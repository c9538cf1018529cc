import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers.js";

describe('import { Sandbox } from "plinth"', () => {
  it("works from a plain Node script through the package's exports", async () => {
    const script =
      'import { Sandbox, buildImage, AgentTimeoutError, PlinthError, SpecError } from "plinth";' +
      "console.log(typeof Sandbox.start, typeof Sandbox.connect, typeof buildImage," +
      " new AgentTimeoutError('hello', 1) instanceof PlinthError, typeof SpecError);";
    const r = await execa("node", ["--input-type=module", "-e", script], { cwd: ROOT });
    expect(r.stdout).toBe("function function function true function");
  });
});
