import path from "node:path";
import type { ExecResult } from "../agent/client/index.js";
import { NoAgentError, PlinthError } from "../errors.js";
import { noEvents, stage, type EventSink } from "../events.js";
import { readMetadata } from "../image/metadata.js";
import type { AccelRequest } from "../vm/accel.js";
import { Machine, type BootMode } from "../vm/machine.js";
import { plural } from "../util/plural.js";
import { planChecks, type CheckContext } from "./checks.js";

export interface CheckResult {
  group: string;
  name: string;
  ok: boolean;
  expected: string;
  actual: string;
  /** Measured, not judged: why (a KVM time limit under TCG). */
  skipped?: string;
}

export interface CheckReport {
  image: string;
  name: string;
  version: string;
  accel: string;
  bootMs: number;
  passed: number;
  failed: number;
  /** Measured but not judged (time limits for KVM, under TCG). */
  skipped: number;
  results: CheckResult[];
}

/**
 * Boot the image, run every check through the agent, power it off. A check that throws
 * counts as failed with the error as its actual value; the run itself goes on.
 */
export async function checkImage(opts: {
  imageDir: string;
  accel?: AccelRequest;
  boot?: BootMode;
  memMiB?: number;
  cpus?: number;
  onEvent?: EventSink;
  signal?: AbortSignal;
}): Promise<CheckReport> {
  const emit = opts.onEvent ?? noEvents;
  const meta = await readMetadata(opts.imageDir);
  if (!meta.spec) {
    throw new PlinthError(
      "NO_SPEC",
      `${opts.imageDir} was built by an older plinth without its spec in metadata.json.`,
      {
        hint: "Rebuild the image.",
      },
    );
  }
  if (!meta.agent) throw new NoAgentError(opts.imageDir, `${meta.name} ${meta.version}`);
  const checks = planChecks(meta.spec);
  const vm = await stage(emit, "boot", "boot", () =>
    // With a NIC (QEMU user-mode network), as a sandbox usually runs: network units then
    // have a link to configure, and wait-online targets are reached.
    Machine.start({
      image: opts.imageDir,
      accel: opts.accel,
      boot: opts.boot,
      memMiB: opts.memMiB ?? meta.spec.validate?.vm?.memory_mib,
      cpus: opts.cpus ?? meta.spec.validate?.vm?.cpus,
      net: {},
      onEvent: emit,
      signal: opts.signal,
    }),
  );
  const results: CheckResult[] = [];
  try {
    const client = await vm.agent();
    const rootfs = meta.artifacts.find((a) => a.kind === "rootfs");
    const ctx: CheckContext = {
      bootMs: vm.boot!.readyMs,
      rootfsBytes: rootfs?.size ?? 0,
      rootfsFile: path.join(opts.imageDir, rootfs?.name ?? "rootfs.ext4"),
      allServicesMs: vm.boot!.readyMs,
      systemState: "running",
      accel: vm.config.accel,
      sh: async (command: string) => {
        const r = (await client.exec(command, {
          timeoutMs: 120_000,
          signal: opts.signal,
        })) as ExecResult<string>;
        return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
      },
    };
    // The agent answers before the rest of a systemd boot is done: wait for it, so the
    // checks see the booted system (and boot-to-all-services is measured here).
    if (meta.init === "systemd") {
      const t0 = performance.now();
      ctx.systemState = (await ctx.sh("systemctl is-system-running --wait")).stdout.trim();
      ctx.allServicesMs = ctx.bootMs + performance.now() - t0;
    }
    await stage(emit, "checks", plural(checks.length, "check"), async () => {
      for (const c of checks) {
        const outcome = await c
          .run(ctx)
          .catch((e: unknown) => ({ ok: false, actual: `error: ${(e as Error).message}` }));
        results.push({ group: c.group, name: c.name, expected: c.expected, ...outcome });
      }
    });
  } finally {
    await vm.stop();
    await vm.remove();
  }
  const failed = results.filter((r) => !r.ok).length;
  const skipped = results.filter((r) => r.skipped).length;
  return {
    image: opts.imageDir,
    name: meta.name,
    version: meta.version,
    accel: vm.config.accel,
    bootMs: Math.round(vm.boot!.readyMs),
    passed: results.length - failed - skipped,
    failed,
    skipped,
    results,
  };
}
