import { constants } from "node:os";

/** Exit code of a finished guest command, shell-style (128 + n) for a signal. */
export function exitCodeOf(r: { exitCode: number | null; signal: string | null }): number {
  if (r.exitCode !== null) return r.exitCode;
  const n = r.signal ? constants.signals[r.signal as NodeJS.Signals] : undefined;
  return 128 + (n ?? 1);
}
