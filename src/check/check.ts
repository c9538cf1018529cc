/** What a check is, and the one shape most checks take: run a command, compare its output. */

export interface CheckOutcome {
  ok: boolean;
  actual: string;
}

/** What a check can ask of the booted guest. */
export interface CheckContext {
  /** Run a shell command in the guest. */
  sh(command: string): Promise<{ exitCode: number | null; stdout: string; stderr: string }>;
  /** Boot-to-agent-ready of this boot, in ms. */
  bootMs: number;
  /** Size of the image's rootfs.ext4. */
  rootfsBytes: number;
  /** Boot-to-all-services in ms (systemd: until `is-system-running --wait` returned). */
  allServicesMs: number;
  /** What `systemctl is-system-running` said then ("running" without systemd). */
  systemState: string;
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

export const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
