import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CancelledError } from "../../src/errors.js";
import { Sandbox, type SandboxPty } from "../../src/sdk/index.js";
import { startFakeVm } from "../agent/fake-vm.js";
import { sleep } from "../agent/harness.js";

// sb.pty() against the Go agent standing in for a VM (test/agent/fake-vm.ts).
const VM = "ptyvm";
let sb: Sandbox;
let stopVm: () => void;
const saved = process.env.PLINTH_HOME;

beforeAll(async () => {
  const vm = await startFakeVm(VM);
  stopVm = vm.stop;
  process.env.PLINTH_HOME = vm.home;
  sb = await Sandbox.connect(VM);
});

afterAll(async () => {
  await sb.close();
  stopVm();
  if (saved === undefined) delete process.env.PLINTH_HOME;
  else process.env.PLINTH_HOME = saved;
});

/** Collects what the terminal shows; `until(text)` waits for it. */
function screen() {
  let shown = "";
  return {
    onData: (chunk: Buffer) => (shown += chunk.toString("utf8")),
    get shown() {
      return shown;
    },
    async until(text: string) {
      const deadline = Date.now() + 10_000;
      while (!shown.includes(text)) {
        if (Date.now() > deadline) throw new Error(`no ${JSON.stringify(text)} in ${shown}`);
        await sleep(10);
      }
    },
  };
}

describe("sb.pty", () => {
  it("runs a program on a terminal: write, resize, exit status", async () => {
    const s = screen();
    const term: SandboxPty = await sb.pty(["/bin/sh"], {
      rows: 20,
      cols: 60,
      env: { GREETING: "hel''lo" },
      cwd: "/tmp",
      onData: s.onData,
    });
    expect([term.rows, term.cols]).toEqual([20, 60]);
    await term.write("stty size; pwd; echo $GREETING-$TERM\n");
    await s.until("hel''lo-xterm-256color\r\n");
    expect(s.shown).toContain("20 60\r\n/tmp\r\n");
    await term.resize(33, 99);
    expect([term.rows, term.cols]).toEqual([33, 99]);
    await term.write(Buffer.from("stty size\n"));
    await s.until("33 99\r\n");
    await term.write("exit 4\n");
    expect(await term.exited).toMatchObject({ exitCode: 4, signal: null, timedOut: false });
  });

  it("starts a login shell by default and reads output as a stream without onData", async () => {
    const term = await sb.pty();
    let shown = "";
    term.output.on("data", (chunk: Buffer) => (shown += chunk.toString()));
    await term.write("echo shell=$0; echo do''ne\n");
    const deadline = Date.now() + 10_000;
    while (!shown.includes("done\r\n") && Date.now() < deadline) await sleep(10);
    expect(shown).toMatch(/shell=\S*(bash|sh)\r\n/);
    // Not ^D: typed while the shell is still between commands (the terminal in line
    // mode), it can be lost when readline switches to raw mode, and the shell waits on.
    await term.write("exit\n");
    expect(await term.exited).toMatchObject({ exitCode: 0 });
  });

  it("kills with a signal, and an abort rejects exited with CancelledError", async () => {
    const s = screen();
    const term = await sb.pty("echo ready; exec sleep 30", { onData: s.onData });
    await s.until("ready");
    term.kill("SIGINT");
    expect(await term.exited).toMatchObject({ exitCode: null, signal: "SIGINT" });

    const ac = new AbortController();
    const aborted = await sb.pty(["sleep", "30"], { signal: ac.signal });
    ac.abort();
    await expect(aborted.exited).rejects.toThrow(CancelledError);
    await expect(sb.pty(["true"], { signal: ac.signal })).rejects.toThrow();
  });

  it("runs exec on a terminal too", async () => {
    const r = await sb.exec("test -t 1 && echo on-a-tty", { pty: true });
    expect(r).toMatchObject({ exitCode: 0, stdout: "on-a-tty\r\n", stderr: "" });
  });
});
