/**
 * Typed progress events. The core emits them through an `onEvent` callback and never
 * prints; the CLI (src/ui) renders them.
 */
export type PlinthEvent =
  | { type: "stage:start"; stage: string; title: string }
  | { type: "stage:end"; stage: string; durationMs: number; cached?: boolean; detail?: string }
  | { type: "stage:fail"; stage: string; durationMs: number; error: unknown }
  | { type: "log"; stage?: string; level: "info" | "warn" | "debug"; message: string }
  | {
      /** How far a running stage has got: a phase, and package counts where it has them. */
      type: "progress";
      stage: string;
      phase: string;
      packages?: PackageCounts;
      /** Bytes moved of the total (pushes, pulls, downloads), and when the transfer began. */
      transfer?: { done: number; total: number; startedMs: number };
    };

/**
 * Packages a bootstrap has fetched, unpacked and set up. `total` is what apt has said it
 * will install so far: it grows once more when the second apt run (the packages beyond the
 * essential set) starts.
 */
export interface PackageCounts {
  fetched: number;
  unpacked: number;
  setUp: number;
  total?: number;
}

export type EventSink = (event: PlinthEvent) => void;

export const noEvents: EventSink = () => {};

/** Run `fn` as a named stage, emitting start/end/fail events and returning its value. */
export async function stage<T>(
  emit: EventSink,
  id: string,
  title: string,
  fn: () => Promise<T>,
  describe?: (value: T) => { cached?: boolean; detail?: string },
): Promise<T> {
  emit({ type: "stage:start", stage: id, title });
  const t0 = performance.now();
  try {
    const value = await fn();
    emit({
      type: "stage:end",
      stage: id,
      durationMs: performance.now() - t0,
      ...describe?.(value),
    });
    return value;
  } catch (error) {
    emit({ type: "stage:fail", stage: id, durationMs: performance.now() - t0, error });
    throw error;
  }
}
