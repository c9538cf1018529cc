import { afterEach, describe, expect, it, vi } from "vitest";
import type { PlinthEvent } from "../../src/events.js";
import { fit, humanRenderer, progressDetail } from "../../src/ui/progress.js";

function fakeStream(tty: boolean, columns?: number) {
  const out: string[] = [];
  const stream = { isTTY: tty, columns, write: (s: string) => out.push(s) > 0 };
  return { stream: stream as unknown as NodeJS.WriteStream, out };
}

type ProgressEvent = Extract<PlinthEvent, { type: "progress" }>;

const progress = (phase: string, unpacked = 0): ProgressEvent => ({
  type: "progress",
  stage: "bootstrap",
  phase,
  packages: { fetched: 112, unpacked, setUp: 40, total: 232 },
});

describe("bootstrap progress on the terminal", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("progressDetail: the phase, then the counts there are, against apt's total", () => {
    expect(progressDetail(progress("installing packages", 80))).toBe(
      "installing packages · fetched 112 · unpacked 80/232 · set up 40/232",
    );
    expect(
      progressDetail({
        type: "progress",
        stage: "bootstrap",
        phase: "updating package lists",
        packages: { fetched: 0, unpacked: 0, setUp: 0 },
      }),
    ).toBe("updating package lists");
    expect(progressDetail({ type: "progress", stage: "x", phase: "fetching" })).toBe("fetching");
  });

  it("fit: a live line never wraps", () => {
    expect(fit("abcdef", 80)).toBe("abcdef");
    expect(fit("abcdef", 5)).toBe("abc…");
    expect(fit("abcdef", undefined)).toBe("abcdef");
  });

  it("a TTY redraws the stage's line in place with the counts", () => {
    vi.useFakeTimers();
    const { stream, out } = fakeStream(true, 120);
    const r = humanRenderer(stream);
    r.onEvent({ type: "stage:start", stage: "bootstrap", title: "bootstrap" });
    r.onEvent(progress("installing packages", 80));
    vi.advanceTimersByTime(100);
    const live = out.at(-1)!;
    expect(live.startsWith("\r\x1b[K")).toBe(true);
    expect(live.slice(4)).toMatch(
      /^. bootstrap {2}installing packages · fetched 112 · unpacked 80\/232 · set up 40\/232 {2}\d+\.\ds$/,
    );
    expect(out.join("")).not.toContain("\n");
    r.onEvent({ type: "stage:end", stage: "bootstrap", durationMs: 41_200 });
    expect(out.at(-1)).toBe("✔ bootstrap  41.2s\n");
    r.close();
  });

  it("elsewhere prints each phase once and no counts", () => {
    const { stream, out } = fakeStream(false);
    const r = humanRenderer(stream);
    r.onEvent({ type: "stage:start", stage: "bootstrap", title: "bootstrap" });
    for (let i = 0; i < 50; i++) r.onEvent(progress("downloading packages", i));
    for (let i = 0; i < 50; i++) r.onEvent(progress("installing packages", i));
    r.onEvent({ type: "stage:end", stage: "bootstrap", durationMs: 41_200 });
    r.close();
    expect(out).toEqual([
      "plinth: bootstrap ...\n",
      "plinth: bootstrap: downloading packages\n",
      "plinth: bootstrap: installing packages\n",
      "plinth: done bootstrap  41.2s\n",
    ]);
  });
});
