/** What a check is, and the one shape most checks take: run a command, compare its output. */

export interface CheckOutcome {
  ok: boolean;
  actual: string;
  /** Measured but not judged, and why (a KVM time limit under TCG). */
  skipped?: string;
}

/** What a check can ask of the booted guest. */
export interface CheckContext {
  /** Run a shell command in the guest. */
  sh(command: string): Promise<{ exitCode: number | null; stdout: string; stderr: string }>;
  /** Boot-to-agent-ready of this boot, in ms. */
  bootMs: number;
  /** Size of the image's rootfs.ext4. */
  rootfsBytes: number;
  /** The image's rootfs.ext4 itself, for what is judged on the image, not the guest. */
  rootfsFile: string;
  /** Boot-to-all-services in ms (systemd: until `is-system-running --wait` returned). */
  allServicesMs: number;
  /** What `systemctl is-system-running` said then ("running" without systemd). */
  systemState: string;
  /** The accelerator the guest runs on: time and CPU limits are for the one they name. */
  accel: "kvm" | "tcg";
}

export interface Check {
  group: string;
  name: string;
  expected: string;
  run(ctx: CheckContext): Promise<CheckOutcome>;
}

export type { Scalar } from "../spec/normalize.js";

export const norm = (s: string) => s.trim().replace(/\s+/g, " ");

export function equals(
  group: string,
  name: string,
  expected: string,
  command: string,
  pick = (out: string) => out,
): Check {
  return {
    group,
    name,
    expected,
    async run(ctx) {
      const r = await ctx.sh(command);
      const actual =
        r.exitCode === 0
          ? norm(pick(r.stdout))
          : `(failed: ${norm(r.stderr || r.stdout) || `exit ${r.exitCode}`})`;
      return { ok: actual === expected, actual };
    },
  };
}

/**
 * A time or CPU limit, judged on the accelerator it is written for: `limit` is for real
 * hardware (KVM), `tcgLimit` for emulation. Under TCG without a TCG limit the figure is
 * reported and the criterion is not judged: emulation is many times slower, so a seed's
 * "boot < 30 s" says nothing there.
 */
export function limitCheck(
  group: string,
  name: string,
  o: { limit: number; tcgLimit?: number; unit: string; tcgKey: string },
  measure: (ctx: CheckContext) => Promise<{ value: number; actual: string }>,
): Check {
  const tcg = o.tcgLimit === undefined ? "" : `, TCG <= ${o.tcgLimit}${o.unit}`;
  return {
    group,
    name,
    expected: `<= ${o.limit}${o.unit}${tcg}`,
    async run(ctx) {
      const m = await measure(ctx);
      if (ctx.accel === "tcg" && o.tcgLimit === undefined)
        return {
          ok: true,
          actual: m.actual,
          skipped: `not judged (TCG): the limit is for KVM; set ${o.tcgKey} to judge it under TCG`,
        };
      const limit = ctx.accel === "tcg" ? o.tcgLimit! : o.limit;
      return { ok: m.value <= limit, actual: m.actual };
    },
  };
}

export const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
