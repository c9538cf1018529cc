import { errorToJSON, PlinthError } from "../errors.js";
import { formatError } from "../ui/errors.js";
import { exitStatusOf } from "./exit-status.js";
import { humanRenderer, jsonRenderer, type Renderer } from "../ui/progress.js";

/** What every command gets: a renderer for core events, an abort signal for Ctrl-C, and output helpers. */
export interface CommandContext {
  json: boolean;
  renderer: Renderer;
  signal: AbortSignal;
  /** Print a result: a line for humans, or the final JSON object. */
  result(human: string[], json: object): void;
}

export function makeContext(json: boolean): CommandContext {
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    // First Ctrl-C: cancel and clean up; a second one exits at once.
    if (++interrupts > 1) process.exit(130);
    controller.abort();
  };
  process.on("SIGINT", onSigint);
  process.on("SIGTERM", onSigint);
  const renderer = json ? jsonRenderer() : humanRenderer();
  return {
    json,
    renderer,
    signal: controller.signal,
    result(human, obj) {
      renderer.close();
      if (json) process.stdout.write(JSON.stringify(obj) + "\n");
      else if (human.length) process.stdout.write(human.join("\n") + "\n");
    },
  };
}

/** Print an error the way users should see it and return the exit status. */
export function reportError(error: unknown, json: boolean): number {
  const f = formatError(error);
  if (json)
    process.stdout.write(
      JSON.stringify({
        error: {
          ...(error instanceof PlinthError ? errorToJSON(error) : {}),
          code: f.code,
          message: f.message,
          lines: f.lines,
        },
      }) + "\n",
    );
  else process.stderr.write(f.lines.map((l) => `plinth: ${l}`).join("\n") + "\n");
  return exitStatusOf(error);
}
