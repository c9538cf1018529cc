// `plinth exec -t` through a real terminal on the host (util-linux `script` gives the CLI a
// pty), against the Go agent standing in for a VM (test/agent/fake-vm.ts).
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execa } from "execa";
import { startFakeVm } from "../agent/fake-vm.js";
import { sleep } from "../agent/harness.js";
import { CLI } from "../helpers.js";

const VM = "ttyvm";
let home: string;
let stopVm: () => void;

beforeAll(async () => {
  ({ home, stop: stopVm } = await startFakeVm(VM));
});

afterAll(() => {
  stopVm();
});

const plinth = `node ${CLI.map((a) => `'${a}'`).join(" ")}`;

/**
 * `inner` (a shell line) on a new pty under script; what the test writes is what is
 * typed on that terminal, and `output` is what the terminal showed.
 */
function onTerminal(inner: string) {
  const child = spawn("script", ["-qec", inner, "/dev/null"], {
    env: { ...process.env, PLINTH_HOME: home, SHELL: "/bin/sh", TERM: "xterm-test" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => (output += chunk));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 : -1))),
  );
  return {
    get output() {
      return output;
    },
    type: (text: string) => child.stdin.write(text),
    /** Until the output matches; typing `again` every second meanwhile (if given). */
    async until(pattern: RegExp, again?: string): Promise<void> {
      const deadline = Date.now() + 25_000;
      let next = 0;
      while (!pattern.test(output)) {
        if (Date.now() > deadline) throw new Error(`no ${pattern} in ${JSON.stringify(output)}`);
        if (again && Date.now() >= next) {
          child.stdin.write(again);
          next = Date.now() + 1000;
        }
        await sleep(20);
      }
    },
    async exit(): Promise<number> {
      child.stdin.end();
      return exited;
    },
  };
}

describe("plinth exec -it through a real terminal", () => {
  it("gives a shell with the window size, resizes, Ctrl-C and the exit status; restores the terminal", async () => {
    const flag = path.join(home, "resize-now");
    // The CLI runs in the background of the script's shell (fd 3 keeps the terminal as
    // its stdin) so that the shell can change the window size and send SIGWINCH.
    const term = onTerminal(
      [
        "stty rows 30 cols 90",
        `exec 3<&0; ${plinth} exec -it ${VM} -- sh <&3 3<&- & p=$!`,
        `while [ ! -e '${flag}' ]; do sleep 0.05; done`,
        "stty rows 50 cols 100; kill -WINCH $p",
        "wait $p; s=$?",
        'echo "after: $(stty -a | tr -s " ;\\n" " ")"',
        "exit $s",
      ].join("\n"),
    );
    // Typed text is sent again until the guest's shell answers (the CLI starts slowly).
    await term.until(/TERM=xterm-test\r\n/, "echo TERM=$TERM\n");
    term.type("stty size; echo rea''dy\n");
    await term.until(/ready\r\n/);
    expect(term.output).toMatch(/30 90\r\n/);

    writeFileSync(flag, "");
    await term.until(/50 100\r\n/, "stty size\n");

    // Ctrl-C reaches the guest's foreground job, not the CLI: the shell goes on.
    term.type("sleep 30; echo not-inter''rupted\n");
    await sleep(500);
    term.type("\x03");
    await term.until(/42\r\n/, "echo $((6*7))\n");
    expect(term.output).not.toContain("not-interrupted\r\n");

    term.type("exit 3\n");
    await term.until(/after: /);
    expect(await term.exit()).toBe(3);
    // Raw mode was the CLI's only, and is undone: line mode, echo and output processing.
    const after = term.output.slice(term.output.indexOf("after: "));
    expect(after).toMatch(/ icanon /);
    expect(after).toMatch(/ echo /);
    expect(after).toMatch(/ opost /);
    // The guest's CR LF arrive unchanged (no CR CR LF from the host's terminal).
    expect(term.output).not.toContain("42\r\r\n");
  });

  it("restores the terminal when it is killed (SIGTERM: cancelled, 130)", async () => {
    const flag = path.join(home, "kill-now");
    const term = onTerminal(
      [
        `exec 3<&0; ${plinth} exec -it ${VM} -- sh <&3 3<&- & p=$!`,
        `while [ ! -e '${flag}' ]; do sleep 0.05; done`,
        "kill -TERM $p; wait $p; s=$?",
        'echo "after: $(stty -a | tr -s " ;\\n" " ")"',
        "exit $s",
      ].join("\n"),
    );
    await term.until(/up\r\n/, "echo u''p\n");
    writeFileSync(flag, "");
    await term.until(/after: /);
    expect(await term.exit()).toBe(130);
    const after = term.output.slice(term.output.indexOf("after: "));
    expect(after).toMatch(/ icanon /);
    expect(after).toMatch(/ echo /);
  });

  it("runs the default login shell and exits with a signal's status", async () => {
    const term = onTerminal(`${plinth} exec -it ${VM}`);
    await term.until(/in-shell\r\n/, "echo in-she''ll\n");
    term.type("kill -KILL $$\n");
    expect(await term.exit()).toBe(128 + 9);
  });
});

describe("plinth exec -t without a terminal", () => {
  it("runs on a terminal in the guest; -i feeds stdin, whose end is ^D", async () => {
    const r = await execa("node", [...CLI, "exec", "-it", VM, "--", "sh"], {
      env: { PLINTH_HOME: home },
      input: "tty; echo $((6*7)); test -t 0 && echo stdin-is-a-tty\n",
      reject: false,
    });
    expect(r.stdout).toMatch(/\/dev\/pts\/\d+\r\n42\r\nstdin-is-a-tty\r\n/);
    expect(r.exitCode).toBe(0);
    const noInput = await execa("node", [...CLI, "exec", "-t", VM, "--", "sh", "-c", "exit 7"], {
      env: { PLINTH_HOME: home },
      reject: false,
    });
    expect(noInput.exitCode).toBe(7);
  });

  it("needs a command without -t, and refuses -t with --json", async () => {
    const env = { PLINTH_HOME: home };
    const none = await execa("node", [...CLI, "exec", VM], { env, reject: false });
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toContain("missing command");
    const json = await execa("node", [...CLI, "exec", "-t", "--json", VM, "--", "true"], {
      env,
      reject: false,
    });
    expect(json.exitCode).toBe(2);
  });
});
