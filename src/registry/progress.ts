import type { EventSink } from "../events.js";

/**
 * Bytes moved by several parallel transfers as one `progress` event stream, at most ten
 * events a second: `item(key)` gives each transfer its own callback of bytes done so far.
 */
export function transferProgress(emit: EventSink, stage: string, phase: string, total: number) {
  const done = new Map<string, number>();
  const startedMs = performance.now();
  let last = 0;
  const send = (force = false) => {
    const now = performance.now();
    if (!force && now - last < 100) return;
    last = now;
    const sum = [...done.values()].reduce((a, b) => a + b, 0);
    emit({ type: "progress", stage, phase, transfer: { done: sum, total, startedMs } });
  };
  return {
    item: (key: string) => (n: number) => {
      done.set(key, n);
      send();
    },
    end: () => send(true),
  };
}
