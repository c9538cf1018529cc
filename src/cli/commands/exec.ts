import type { Command } from "commander";
import { Sandbox } from "../../sdk/index.js";
import { makeContext } from "../context.js";
import { commandExitStatus } from "../exit-status.js";
import { collect, positiveInt } from "../options.js";

interface ExecCliOptions {
  interactive?: boolean;
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
    .argument("<command...>", "program and arguments (after --)")
    .option("-i, --interactive", "pass this process's stdin to the command")
    .option("-e, --env <K=V>", "environment variable (repeatable)", collect, [])
    .option("-w, --workdir <dir>", "working directory in the guest")
    .option("-u, --user <user>", "user name or uid to run as")
    .option("--timeout <seconds>", "kill the command after this long", positiveInt)
    .option(
      "--json",
      "buffer the output; print {exitCode, signal, timedOut, stdout, stderr, durationMs}",
    )
    .action(async (name: string, command: string[], opts: ExecCliOptions) => {
      const ctx = makeContext(!!opts.json);
      const env = Object.fromEntries(
        opts.env.map((kv) => {
          const i = kv.indexOf("=");
          return i < 0 ? [kv, process.env[kv] ?? ""] : [kv.slice(0, i), kv.slice(i + 1)];
        }),
      );
      const sb = await Sandbox.connect(name);
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
