import { mkdir } from "node:fs/promises";
import type { BootstrapPlan } from "../plan.js";
import type { EventSink } from "../../events.js";
import { run } from "../../host/exec.js";
import { bootstrapProgressEvents } from "./progress.js";

/**
 * The exact mmdebstrap command for a bootstrap plan. Packages downloaded are kept in
 * `debCache` (mmdebstrap's documented sync-in/sync-out pattern) so that a changed
 * package set downloads only what is new; the tarball itself holds no .deb files.
 */
export function mmdebstrapArgv(plan: BootstrapPlan, output: string, debCache?: string): string[] {
  const argv = [
    "mmdebstrap",
    `--mode=${plan.mode}`,
    `--variant=${plan.variant}`,
    `--architectures=${plan.arch}`,
    "--format=tar",
    '--aptopt=Acquire::Retries "3"',
    // apt's and dpkg's own lines (Get:, Unpacking, Setting up) for the progress display;
    // without it mmdebstrap keeps them until a failure. Only its stderr, which we collect.
    "--verbose",
  ];
  if (plan.packages.length) argv.push(`--include=${plan.packages.join(",")}`);
  for (const k of plan.keyrings) argv.push(`--keyring=${k}`);
  if (debCache) {
    argv.push(
      "--skip=essential/unlink",
      `--setup-hook=mkdir -p "$1"/var/cache/apt/archives/`,
      `--setup-hook=sync-in '${debCache}' /var/cache/apt/archives/`,
      `--customize-hook=sync-out /var/cache/apt/archives '${debCache}'`,
    );
  }
  argv.push(plan.suite, output, ...plan.sources);
  return argv;
}

export async function runMmdebstrap(
  plan: BootstrapPlan,
  output: string,
  opts: {
    debCache?: string;
    signal?: AbortSignal;
    sourceDateEpoch?: number;
    tmpDir?: string;
    /** Receives the bootstrap's progress events (phase, package counts). */
    emit?: EventSink;
  },
): Promise<void> {
  if (opts.debCache) await mkdir(opts.debCache, { recursive: true });
  const env: Record<string, string> = {};
  if (opts.sourceDateEpoch !== undefined) env.SOURCE_DATE_EPOCH = String(opts.sourceDateEpoch);
  // mmdebstrap assembles the tree in TMPDIR before writing the tarball: on tmpfs, dpkg's
  // many small writes cost a fraction of what they cost on disk.
  if (opts.tmpDir) env.TMPDIR = opts.tmpDir;
  await run(mmdebstrapArgv(plan, output, opts.debCache), {
    stage: "bootstrap",
    signal: opts.signal,
    env,
    onLine: opts.emit && bootstrapProgressEvents(opts.emit),
  });
}
