import { InvalidArgumentError, type Command } from "commander";
import { PlinthError } from "../../errors.js";
import {
  releaseSandboxNetwork,
  removeSandbox,
  Sandbox,
  sandboxInfo,
  type StopMethod,
} from "../../sdk/index.js";
import { formatError } from "../../ui/errors.js";
import { makeContext } from "../context.js";
import { combinedExitStatus } from "../exit-status.js";

/** What `plinth stop` did for one name (one entry of `--json`'s `vms`). */
interface StopOutcome {
  name: string;
  /** Stopped now, was not running (only its state was left), or something failed. */
  result: "stopped" | "not-running" | "failed";
  /** How it stopped; "gone" when it was not running. Absent when it could not be reached. */
  stoppedBy?: StopMethod;
  stateRemoved: boolean;
  error?: { code: string; message: string; hint?: string };
}

function nonNegativeSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError("expected seconds (>= 0)");
  return n;
}

/** Stop one VM; never throws: a failure is part of the outcome. */
async function stopOne(
  name: string,
  o: { keep: boolean; timeoutMs: number },
): Promise<[StopOutcome, unknown]> {
  const out: StopOutcome = { name, result: "failed", stateRemoved: false };
  try {
    // Unknown or invalid names fail here, before anything is touched.
    let how: StopMethod = "gone";
    if (sandboxInfo(name).running) {
      try {
        how = await (await Sandbox.connect(name)).stop({ timeoutMs: o.timeoutMs, keep: true });
      } catch (error) {
        // It died in between: only its state is left.
        if (!(error instanceof PlinthError && error.code === "VM_GONE")) throw error;
      }
    }
    // A VM that died on its own still holds its bridge lease until someone frees it.
    if (how === "gone") await releaseSandboxNetwork(name);
    out.stoppedBy = how;
    if (!o.keep) {
      await removeSandbox(name);
      out.stateRemoved = true;
    }
    out.result = how === "gone" ? "not-running" : "stopped";
    return [out, undefined];
  } catch (error) {
    const f = formatError(error);
    const hint = error instanceof PlinthError ? error.hint : undefined;
    out.error = { code: f.code, message: f.message, ...(hint ? { hint } : {}) };
    return [out, error];
  }
}

export function registerStop(program: Command): void {
  program
    .command("stop")
    .description(
      "stop VMs (agent shutdown, then ACPI power-off, then kill) and remove their state; reports each",
    )
    .argument("<vm...>", "VM names")
    .option("--keep", "keep the VM's state (overlay, console log) for `plinth logs` / `ps -a`")
    .option(
      "-t, --timeout <seconds>",
      "time for a clean shutdown before killing",
      nonNegativeSeconds,
      30,
    )
    .option("--json", "print {ok, vms: [{name, result, stoppedBy, stateRemoved, error}]}")
    .action(async (names: string[], opts: { keep?: boolean; timeout: number; json?: boolean }) => {
      const ctx = makeContext(!!opts.json);
      const outcomes: StopOutcome[] = [];
      const failures: unknown[] = [];
      // Every name is attempted, whatever happened to the ones before it; humans see each
      // outcome as it comes.
      for (const name of names) {
        const [out, error] = await stopOne(name, {
          keep: !!opts.keep,
          timeoutMs: opts.timeout * 1000,
        });
        outcomes.push(out);
        if (out.result === "failed") failures.push(error);
        if (opts.json) continue;
        if (out.stoppedBy)
          process.stdout.write(
            `${name}: ${out.stoppedBy === "gone" ? "was not running" : `stopped (${out.stoppedBy})`}\n`,
          );
        if (out.result === "failed") {
          const [first = "", ...rest] = formatError(error).lines;
          const lines = [first.replace(/^(error: )?/, `error: ${name}: `), ...rest];
          process.stderr.write(lines.map((l) => `plinth: ${l}`).join("\n") + "\n");
        }
      }
      ctx.result([], { ok: failures.length === 0, vms: outcomes });
      process.exitCode = combinedExitStatus(failures);
    });
}
