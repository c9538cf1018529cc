import type { EventSink, PackageCounts } from "../../events.js";

/** mmdebstrap's own step lines (`I: …`), in the order it runs them, and how we name them. */
const PHASES: [string, string][] = [
  ["running apt-get update...", "updating package lists"],
  ["downloading packages with apt...", "downloading packages"],
  ["extracting archives...", "extracting archives"],
  ["installing essential packages...", "installing essential packages"],
  ["installing remaining packages inside the chroot...", "installing packages"],
  ["cleaning package lists and apt cache...", "cleaning up"],
  ["creating tarball...", "writing the tarball"],
];

export type ProgressLine =
  { phase: string } | { count: "fetched" | "unpacked" | "setUp" } | { total: number };

/**
 * What one line of `mmdebstrap --verbose` says about progress, if anything. The counts
 * come from apt and dpkg, whose output --verbose passes through: `Get:` for each package
 * downloaded (not the index files), `Unpacking` and `Setting up` for each one installed,
 * and apt's "N newly installed" summary for how many it will install.
 */
export function parseMmdebstrapLine(line: string): ProgressLine | undefined {
  if (line.startsWith("I: ")) {
    const phase = PHASES.find(([text]) => line.slice(3) === text);
    return phase && { phase: phase[1] };
  }
  if (line.startsWith("Get:")) {
    // Get:12 <uri> bookworm/main amd64 libc6 amd64 2.36-9 [2757 kB]; an index file is
    // Get:2 <uri> bookworm/main amd64 Packages [8787 kB], two words shorter.
    const words = line.replace(/\s*\[[^\]]*\]\s*$/, "").split(/\s+/);
    return /^Get:\d+$/.test(words[0]!) && words.length === 7 ? { count: "fetched" } : undefined;
  }
  if (/^Unpacking \S/.test(line)) return { count: "unpacked" };
  if (/^Setting up \S/.test(line)) return { count: "setUp" };
  const summary = /^\d+ upgraded, (\d+) newly installed,/.exec(line);
  return summary ? { total: Number(summary[1]) } : undefined;
}

/** The state of one bootstrap as its lines come in. */
export class BootstrapProgress {
  phase = "starting";
  readonly packages: PackageCounts = { fetched: 0, unpacked: 0, setUp: 0 };

  /** Take one line; say what it changed, if anything. */
  feed(line: string): "phase" | "counts" | undefined {
    const p = parseMmdebstrapLine(line);
    if (!p) return undefined;
    if ("phase" in p) {
      if (p.phase === this.phase) return undefined;
      this.phase = p.phase;
      return "phase";
    }
    if ("total" in p) this.packages.total = (this.packages.total ?? 0) + p.total;
    else this.packages[p.count]++;
    return "counts";
  }
}

/**
 * A line handler for `run` that emits the bootstrap's progress: at once when the phase
 * changes, and new counts at most every `intervalMs`, so that hundreds of packages make a
 * few events a second, not one per line (each is a JSON line under --json).
 */
export function bootstrapProgressEvents(
  emit: EventSink,
  { intervalMs = 250, now = () => performance.now() } = {},
): (line: string) => void {
  const progress = new BootstrapProgress();
  let last = -Infinity;
  return (line) => {
    const changed = progress.feed(line);
    if (!changed) return;
    const t = now();
    if (changed === "counts" && t - last < intervalMs) return;
    last = t;
    emit({
      type: "progress",
      stage: "bootstrap",
      phase: progress.phase,
      packages: { ...progress.packages },
    });
  };
}
