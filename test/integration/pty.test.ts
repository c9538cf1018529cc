import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox } from "../../src/sdk/index.js";
import { CLI, integrationSkipReason, ROOT } from "../helpers.js";

// `plinth exec -it` in a booted VM, through a real terminal on the host: util-linux
// `script` runs the CLI on a new pty and types what the test feeds to its stdin.
const skip = integrationSkipReason();
const MINIMAL = path.join(ROOT, "examples", "minimal.yaml");
const home = mkdtempSync(path.join(os.tmpdir(), "plinth-pty-"));
const name = `pty-${randomBytes(3).toString("hex")}`;
const plinth = `node ${CLI.map((a) => `'${a}'`).join(" ")}`;

/** `plinth exec -it …` on a 33 × 91 terminal, with `input` typed. */
function onTerminal(args: string, input: string) {
  return execa(
    "script",
    ["-qec", `stty rows 33 cols 91; ${plinth} exec -it ${args}`, "/dev/null"],
    {
      input,
      env: { PLINTH_HOME: home, SHELL: "/bin/sh", TERM: "xterm-256color" },
      reject: false,
      stripFinalNewline: false,
      timeout: 120_000,
    },
  );
}

describe.skipIf(!!skip)("plinth exec -it in a VM of examples/minimal.yaml", () => {
  let sb: Sandbox | undefined;
  beforeAll(async () => {
    process.env.PLINTH_HOME = home;
    sb = await Sandbox.start(MINIMAL, { detach: true, name });
    // Let go of the agent: the CLI connects on its own, as it would from another shell.
    await sb.close();
  }, 900_000);
  afterAll(async () => {
    await sb?.stop();
    delete process.env.PLINTH_HOME;
  });

  it("gives a shell on a terminal of the host's size and exits with its status", async () => {
    const r = await onTerminal(`${name} -- sh`, "stty size; tty; echo $((6*7)); exit 3\n");
    expect(r.stdout).toContain("33 91\r\n");
    expect(r.stdout).toMatch(/\/dev\/pts\/\d+\r\n/);
    expect(r.stdout).toContain("42\r\n");
    expect(r.exitCode).toBe(3);
  }, 120_000);

  it("starts a login shell without a command, TERM from the host", async () => {
    const r = await onTerminal(name, "echo term=$TERM; exit 4\n");
    expect(r.stdout).toContain("term=xterm-256color\r\n");
    expect(r.exitCode).toBe(4);
  }, 120_000);
});
