import { existsSync } from "node:fs";
import { ensureImage } from "../build/build.js";
import type { EventSink } from "../events.js";
import { resolveImageRef } from "../store/images.js";

/** `<image>` on the command line: an image dir, `name[:version]`, or a spec (built when needed). */
export async function imageFromRef(
  ref: string,
  opts: { sets: string[]; onEvent: EventSink; signal: AbortSignal },
): Promise<{ imageDir: string; reused: boolean }> {
  if (/\.ya?ml$/.test(ref) && existsSync(ref)) return ensureImage({ specFile: ref, ...opts });
  return { imageDir: resolveImageRef(ref), reused: true };
}

/** Exit code of a finished guest command, shell-style for signals. */
export function exitCodeOf(r: { exitCode: number | null; signal: string | null }): number {
  if (r.exitCode !== null) return r.exitCode;
  const n = r.signal
    ? ({ SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[
        r.signal
      ]
    : undefined;
  return 128 + (n ?? 1);
}
