// Shared bits of the benchmarks: statistics and printing. Benchmarks import plinth from
// dist/ (run `npm run build` first; the npm scripts do).
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

export const root = path.resolve(import.meta.dirname, "..");

/** A private store for this run; the stage cache stays shared so builds are warm. */
export function privateHome() {
  const home = mkdtempSync(path.join(os.tmpdir(), "plinth-bench-"));
  process.env.PLINTH_HOME = home;
  // Its images are gigabytes: gone when the benchmark ends, however it ends.
  process.on("exit", () => rmSync(home, { recursive: true, force: true }));
  return home;
}

export function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { n: s.length, min: s[0], median, max: s.at(-1) };
}

export const fmt = (x, digits = 2) => x.toFixed(digits);

export function row(label, st, unit, extra = "") {
  console.log(
    `${label.padEnd(34)} n=${String(st.n).padEnd(4)} min ${fmt(st.min).padStart(8)} ${unit}  median ${fmt(st.median).padStart(8)} ${unit}${extra}`,
  );
}
