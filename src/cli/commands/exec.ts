import type { Command } from "commander";
import { Machine } from "../../vm/machine.js";
import { makeContext } from "../context.js";
import { collect, positiveInt } from "../options.js";
import { exitCodeOf } from "../exit-code.js";

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
    .action(
      async (
        name: string,
        command: string[],
        opts: {
          interactive?: boolean;
          env: string[];
          workdir?: string;
          user?: string;
          timeout?: number;
        },
      ) => {
        const ctx = makeContext(false);
        const vm = await Machine.attach(name);
        const client = await vm.agent();
        const env = Object.fromEntries(
          opts.env.map((kv) => {
            const i = kv.indexOf("=");
            return i < 0 ? [kv, process.env[kv] ?? ""] : [kv.slice(0, i), kv.slice(i + 1)];
          }),
        );
        const r = await client.exec(command, {
          env,
          cwd: opts.workdir,
          user: opts.user,
          timeoutMs: opts.timeout ? opts.timeout * 1000 : undefined,
          stdin: opts.interactive ? process.stdin : undefined,
          onStdout: (b) => process.stdout.write(b),
          onStderr: (b) => process.stderr.write(b),
          buffer: false,
          signal: ctx.signal,
        });
        await client.close();
        if (r.timedOut)
          process.stderr.write(`plinth: the command timed out after ${opts.timeout} s\n`);
        process.exitCode = exitCodeOf(r);
      },
    );
}
