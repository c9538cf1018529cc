import { spawn, type ChildProcess } from "node:child_process";
import { stat } from "node:fs/promises";
import { constants } from "node:os";
import type { Writable } from "node:stream";
import { Channel } from "../../protocol/constants.js";
import type { ExecResponse } from "../../protocol/messages.js";
import type { Args } from "../args.js";
import type { AgentEnv } from "../env.js";
import { badRequest, OpError } from "../errors.js";
import { forward } from "../forward.js";
import type { InputStream } from "../input.js";
import type { Request } from "../request.js";
import { resolveUser, type Account } from "../users.js";

/**
 * Run a program. It gets its own process group (detached), so a timeout, a kill from
 * the host or the end of the session signals everything it started, not just the
 * first process. The reply comes once the process exited and all its output reached
 * the host.
 */
export async function exec(request: Request, args: Args, env: AgentEnv): Promise<ExecResponse> {
  const argv = args.optStringArray("argv");
  const command = args.optString("command");
  if ((argv === undefined) === (command === undefined)) {
    throw badRequest("exec needs exactly one of argv and command");
  }
  if (argv && argv.length === 0) throw badRequest("argv must not be empty");
  const shell = args.optString("shell") ?? "/bin/sh";
  const user = args.optId("user");
  const timeoutMs = args.optNumber("timeoutMs", 1);
  const wantsStdin = args.optBoolean("stdin") ?? false;
  const extraEnv = args.optStringRecord("env") ?? {};
  const clearEnv = args.optBoolean("clearEnv") ?? false;
  let cwd = args.optPath("cwd");
  // Claim stdin now: the host may stream it before the process has started.
  const stdin = wantsStdin ? request.input(Channel.STDIN) : undefined;

  const account = user === undefined ? undefined : await resolveUser(user, env.passwdFile);
  if (cwd === undefined) {
    cwd = account?.home && (await isDir(account.home)) ? account.home : process.cwd();
  } else if (!(await isDir(cwd))) {
    throw new OpError("ENOENT", `cwd ${cwd} is not an existing directory`, { path: cwd });
  }
  request.signal.throwIfAborted();

  const child = spawn(argv ? argv[0]! : shell, argv ? argv.slice(1) : ["-c", command!], {
    cwd,
    env: { ...(clearEnv ? {} : env.baseEnv), ...accountEnv(account), ...extraEnv },
    uid: account?.uid,
    gid: account?.gid,
    detached: true,
    stdio: [wantsStdin ? "pipe" : "ignore", "pipe", "pipe"],
  });
  await spawned(child);
  const pid = child.pid!;
  const started = performance.now();

  const stdout = request.output(Channel.STDOUT);
  const stderr = request.output(Channel.STDERR);
  child.stdout!.on("error", () => {});
  child.stderr!.on("error", () => {});
  forward(child.stdout!, stdout);
  forward(child.stderr!, stderr);
  if (stdin) void feed(stdin, child.stdin!);

  let timedOut = false;
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          killGroup(pid, "SIGKILL", env);
        }, timeoutMs);
  request.onCancel = (signal) => killGroup(pid, signal ?? "SIGKILL", env);
  const onAbort = () => killGroup(pid, "SIGKILL", env);
  request.signal.addEventListener("abort", onAbort);

  try {
    const [exitCode, signal] = await new Promise<[number | null, NodeJS.Signals | null]>(
      (resolve) => child.once("close", (code, sig) => resolve([code, sig])),
    );
    await Promise.all([stdout.drained(), stderr.drained()]);
    return {
      pid,
      exitCode,
      signal,
      timedOut,
      durationMs: Math.round(performance.now() - started),
    };
  } finally {
    clearTimeout(timer);
    request.signal.removeEventListener("abort", onAbort);
  }
}

function spawned(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    child.once("spawn", resolve);
    child.once("error", reject);
    // Later errors (none expected without IPC) must not become uncaught exceptions.
    child.on("error", () => {});
  });
}

async function isDir(dir: string): Promise<boolean> {
  try {
    return (await stat(dir)).isDirectory();
  } catch {
    return false;
  }
}

function accountEnv(account: Account | undefined): Record<string, string> {
  if (!account?.name) return {};
  return {
    USER: account.name,
    LOGNAME: account.name,
    ...(account.home ? { HOME: account.home } : {}),
    ...(account.shell ? { SHELL: account.shell } : {}),
  };
}

/** Signal the process group, or the process alone if the group is gone. */
function killGroup(pid: number, signal: string, env: AgentEnv): void {
  if (!Object.prototype.hasOwnProperty.call(constants.signals, signal)) {
    env.log(`exec ${pid}: ignoring unknown signal ${signal}`);
    return;
  }
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}

/** Host stdin → the child's stdin, consuming (and so granting credit) only as the pipe takes it. */
async function feed(input: InputStream, stdin: Writable): Promise<void> {
  // EPIPE when the child exits or closes stdin first; its exit status tells that story.
  stdin.on("error", () => {});
  for await (const chunk of input) {
    // Once the pipe is gone, keep consuming so the host's writes complete.
    if (stdin.destroyed || stdin.writableEnded) continue;
    if (!stdin.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          stdin.off("drain", done);
          stdin.off("close", done);
          resolve();
        };
        stdin.on("drain", done);
        stdin.on("close", done);
      });
    }
  }
  if (!stdin.destroyed) stdin.end();
}
