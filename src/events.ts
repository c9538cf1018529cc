/**
 * Typed progress events. The core emits them through an `onEvent` callback and never
 * prints; the CLI (src/ui) renders them.
 */
export type PlinthEvent =
  | { type: "stage:start"; stage: string; title: string }
  | { type: "stage:end"; stage: string; durationMs: number; cached?: boolean; detail?: string }
  | { type: "stage:fail"; stage: string; durationMs: number; error: unknown }
  | { type: "log"; stage?: string; level: "info" | "warn" | "debug"; message: string };

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
