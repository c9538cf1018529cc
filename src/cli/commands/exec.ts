import { spawnSync } from "node:child_process";
import type { Command } from "commander";
import type { WriteStream } from "node:tty";
import { Sandbox, type ExecStatus } from "../../sdk/index.js";
import { makeContext, type CommandContext } from "../context.js";
import { commandExitStatus } from "../exit-status.js";
import { collect, positiveInt } from "../options.js";

interface ExecCliOptions {
  interactive?: boolean;
  tty?: boolean;
  env: string[];
  workdir?: string;
  user?: string;
  timeout?: number;
  json?: boolean;
}

export function registerExec(program: Command): void {
  program
    .command("exec")
    .description("run a command in a running VM through its agent; exits with its exit code")
    .argument("<vm>", "VM name (see `plinth ps`)")
    .argument("[command...]", "program and arguments (after --); with -t, default: a login shell")
    .option("-i, --interactive", "pass this process's stdin to the command")
    .option("-t, --tty", "run it on a terminal in the guest (-it: an interactive shell)")
    .option("-e, --env <K=V>", "environment variable (repeatable)", collect, [])
    .option("-w, --workdir <dir>", "working directory in the guest")
    .option("-u, --user <user>", "user name or uid to run as")
    .option("--timeout <seconds>", "kill the command after this long", positiveInt)
    .option(
      "--json",
      "buffer the output; print {exitCode, signal, timedOut, stdout, stderr, durationMs}",
    )
    .action(async (name: string, command: string[], opts: ExecCliOptions, cmd: Command) => {
      if (!command.length && !opts.tty) cmd.error("error: missing command (or -t for a shell)");
      if (opts.tty && opts.json) cmd.error("error: --json cannot be combined with -t");
      const ctx = makeContext(!!opts.json);
      const env = Object.fromEntries(
        opts.env.map((kv) => {
          const i = kv.indexOf("=");
          return i < 0 ? [kv, process.env[kv] ?? ""] : [kv.slice(0, i), kv.slice(i + 1)];
        }),
      );
      const sb = await Sandbox.connect(name);
      if (opts.tty) {
        const status = await execOnTerminal(sb, command, env, opts, ctx).finally(() => sb.close());
        ctx.result([], {});
        if (status.timedOut)
          process.stderr.write(`\nplinth: the command timed out after ${opts.timeout} s\n`);
        process.exitCode = commandExitStatus(status);
        return;
      }
      const r = await sb
        .exec(command, {
          env,
          cwd: opts.workdir,
          user: opts.user,
          timeoutMs: opts.timeout ? opts.timeout * 1000 : undefined,
          stdin: opts.interactive ? process.stdin : undefined,
          onStdout: opts.json ? undefined : (b) => process.stdout.write(b),
          onStderr: opts.json ? undefined : (b) => process.stderr.write(b),
          buffer: !!opts.json,
          signal: ctx.signal,
        })
        .finally(() => sb.close());
      if (r.timedOut && !opts.json)
        process.stderr.write(`plinth: the command timed out after ${opts.timeout} s\n`);
      ctx.result([], {
        exitCode: r.exitCode,
        signal: r.signal,
        timedOut: r.timedOut,
        stdout: r.stdout,
        stderr: r.stderr,
        durationMs: r.durationMs,
      });
      process.exitCode = commandExitStatus(r);
    });
}

/**
 * `exec -t`: the command on a pseudo-terminal in the guest, as `docker exec -t` does.
 * With -i and a terminal on stdin, this terminal goes raw (every key, Ctrl-C included,
 * goes to the guest) and is restored however this ends; window size changes follow.
 */
async function execOnTerminal(
  sb: Sandbox,
  command: string[],
  env: Record<string, string>,
  opts: ExecCliOptions,
  ctx: CommandContext,
): Promise<ExecStatus> {
  const stdin = process.stdin;
  const interactive = !!opts.interactive;
  const raw = interactive && stdin.isTTY;
  // Where the window size comes from: the first of stdout and stderr that is a terminal.
  const screen = [process.stdout, process.stderr].find((s) => s.isTTY) as WriteStream | undefined;
  const size = () => ({ rows: screen?.rows || 24, cols: screen?.columns || 80 });
  const term = await sb.pty(command.length ? command : undefined, {
    ...size(),
    // The guest's programs should draw for the terminal this one is.
    env: { ...(process.env.TERM ? { TERM: process.env.TERM } : {}), ...env },
    cwd: opts.workdir,
    user: opts.user,
    timeoutMs: opts.timeout ? opts.timeout * 1000 : undefined,
    onData: (b) => process.stdout.write(b),
    signal: ctx.signal,
  });
  const restore = () => {
    if (raw && stdin.isRaw) stdin.setRawMode(false);
  };
  const onResize = () => {
    const { rows, cols } = size();
    // The program may have exited meanwhile: nothing to resize then.
    term.resize(rows, cols).catch(() => {});
  };
  try {
    if (raw) {
      process.once("exit", restore);
      stdin.setRawMode(true);
      // Node's raw mode keeps output processing (a newline becomes CR LF), which the
      // guest's terminal does already: turned off, as docker and ssh do, so full-screen
      // programs place the cursor right. setRawMode(false) restores it.
      spawnSync("stty", ["-opost"], { stdio: ["inherit", "ignore", "ignore"] });
    }
    screen?.on("resize", onResize);
    // Without -i the terminal gets no input (docker exec -t does the same).
    if (interactive) stdin.pipe(term.input);
    return await term.exited;
  } finally {
    screen?.off("resize", onResize);
    if (interactive) {
      stdin.unpipe(term.input);
      stdin.pause();
    }
    restore();
    process.off("exit", restore);
  }
}
