import { constants } from "node:os";
import { CommanderError } from "commander";
import { CancelledError, UserError } from "../errors.js";

/**
 * The one place where errors become exit statuses. The library's errors carry a `code`
 * and a `hint`, no exit status: that is the CLI's contract with shells and CI.
 *
 * - 2: something the user can fix (a `UserError`: bad spec, bad input, missing tool,
 *   unknown image or VM), and commander's usage errors
 * - 130: cancelled (Ctrl-C)
 * - 1: anything else (a tool failed, the guest did not boot, an internal error)
 */
export function exitStatusOf(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
  if (error instanceof UserError) return 2;
  if (error instanceof CancelledError) return 130;
  return 1;
}

/**
 * One status for several failures (`plinth stop a b c`): 0 for none, 1 when any failure
 * is not the user's, else the failures' common status (2 for unknown names).
 */
export function combinedExitStatus(errors: unknown[]): number {
  const statuses = errors.map(exitStatusOf);
  if (!statuses.length) return 0;
  if (statuses.includes(1)) return 1;
  return Math.max(...statuses);
}

/** A finished guest command's status, shell-style: its exit code, or 128 + n for signal n. */
export function commandExitStatus(r: { exitCode: number | null; signal: string | null }): number {
  if (r.exitCode !== null) return r.exitCode;
  const n = r.signal ? constants.signals[r.signal as NodeJS.Signals] : undefined;
  return 128 + (n ?? 1);
}
