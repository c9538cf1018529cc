import type { PlinthEvent } from "../events.js";
import { formatError } from "./errors.js";

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

export interface Renderer {
  onEvent(e: PlinthEvent): void;
  /** Stop timers; call before printing anything else. */
  close(): void;
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/**
 * Progress for humans on stderr: on a TTY a live line per running stage with its elapsed
 * time, else one plain line when a stage starts and one when it ends.
 */
export function humanRenderer(
  stream: NodeJS.WriteStream = process.stderr,
  verbose = false,
): Renderer {
  const tty = stream.isTTY === true;
  const running = new Map<string, { title: string; t0: number; detail?: string; phase?: string }>();
  let frame = 0;
  let timer: NodeJS.Timeout | undefined;
  const draw = () => {
    const lines = [...running.values()].map(
      (s) =>
        `${FRAMES[frame++ % FRAMES.length]} ${s.title}  ${s.detail ? `${s.detail}  ` : ""}${seconds(performance.now() - s.t0)}`,
    );
    stream.write(`\r\x1b[K${fit(lines.join(" | "), stream.columns)}`);
  };
  const clearLine = () => tty && stream.write("\r\x1b[K");
  const print = (line: string) => {
    clearLine();
    stream.write(line + "\n");
    if (tty && running.size) draw();
  };
  return {
    onEvent(e) {
      switch (e.type) {
        case "stage:start":
          running.set(e.stage, { title: e.title, t0: performance.now() });
          if (tty) {
            timer ??= setInterval(draw, 100);
            draw();
          } else print(`plinth: ${e.title} ...`);
          break;
        case "stage:end": {
          const title = running.get(e.stage)?.title ?? e.stage;
          running.delete(e.stage);
          const extra = [e.cached ? "cached" : "", e.detail ?? ""].filter(Boolean).join(", ");
          print(
            `${tty ? "✔" : "plinth: done"} ${title}  ${seconds(e.durationMs)}${extra ? ` (${extra})` : ""}`,
          );
          break;
        }
        case "stage:fail": {
          const title = running.get(e.stage)?.title ?? e.stage;
          running.delete(e.stage);
          print(`${tty ? "✖" : "plinth: failed"} ${title}  ${seconds(e.durationMs)}`);
          break;
        }
        case "progress": {
          const s = running.get(e.stage);
          if (!s) break;
          // Live on a terminal; elsewhere only the phases, not a line per count.
          if (tty) s.detail = progressDetail(e);
          else if (e.phase !== s.phase) print(`plinth: ${s.title}: ${e.phase}`);
          s.phase = e.phase;
          break;
        }
        case "log":
          if (e.level !== "debug" || verbose)
            print(`${e.level === "warn" ? "warning: " : ""}${e.message}`);
          break;
      }
      if (!running.size && timer) {
        clearInterval(timer);
        timer = undefined;
      }
    },
    close() {
      if (timer) clearInterval(timer);
      if (running.size) clearLine();
    },
  };
}

/** A progress event as the live line shows it: "installing packages · fetched 112 · unpacked 80/232". */
export function progressDetail(e: Extract<PlinthEvent, { type: "progress" }>): string {
  if (e.transfer) return `${e.phase} · ${transferDetail(e.transfer)}`;
  const p = e.packages;
  if (!p) return e.phase;
  const of = p.total ? `/${p.total}` : "";
  const counts = [
    p.fetched ? `fetched ${p.fetched}` : "",
    p.unpacked ? `unpacked ${p.unpacked}${of}` : "",
    p.setUp ? `set up ${p.setUp}${of}` : "",
  ];
  return [e.phase, ...counts].filter(Boolean).join(" · ");
}

/** "312/840 MiB · 41.2 MiB/s" */
export function transferDetail(t: { done: number; total: number; startedMs: number }): string {
  const mib = (n: number) => (n / 1024 ** 2).toFixed(n < 10 * 1024 ** 2 ? 1 : 0);
  const secs = Math.max((performance.now() - t.startedMs) / 1000, 0.001);
  return `${mib(t.done)}/${mib(t.total)} MiB · ${(t.done / 1024 ** 2 / secs).toFixed(1)} MiB/s`;
}

/** One terminal row at most: a wrapped live line could not be redrawn in place. */
export function fit(line: string, columns: number | undefined): string {
  return columns && line.length >= columns ? `${line.slice(0, Math.max(0, columns - 2))}…` : line;
}

/** `--json`: every event as one JSON line on stdout; the command prints its result last. */
export function jsonRenderer(stream: NodeJS.WriteStream = process.stdout): Renderer {
  return {
    onEvent(e) {
      const out = e.type === "stage:fail" ? { ...e, error: formatError(e.error).message } : e;
      stream.write(JSON.stringify({ event: out }) + "\n");
    },
    close() {},
  };
}
