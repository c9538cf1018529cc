import { execa } from "execa";

/** `MAJOR.MINOR.PATCH-YYYYMMDD-gitshort`; the date comes from SOURCE_DATE_EPOCH when set. */
export async function imageVersion(
  semver: string,
  specDir: string,
  sourceDateEpoch?: number,
): Promise<string> {
  const core = semver.split(/[-+]/)[0]!;
  const date = new Date((sourceDateEpoch ?? Date.now() / 1000) * 1000);
  const ymd = date.toISOString().slice(0, 10).replaceAll("-", "");
  return `${core}-${ymd}-${await gitShort(specDir)}`;
}

async function gitShort(dir: string): Promise<string> {
  const r = await execa("git", ["-C", dir, "rev-parse", "--short=7", "HEAD"], { reject: false });
  return r.exitCode === 0 && /^[0-9a-f]+$/.test(String(r.stdout).trim())
    ? String(r.stdout).trim()
    : "nogit";
}

export interface ParsedVersion {
  major: number;
  minor: number;
  patch: number;
  date?: string;
  git?: string;
}

export function parseImageVersion(v: string): ParsedVersion | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)(?:-(\d{8})-([0-9a-z]+))?$/.exec(v);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), date: m[4], git: m[5] };
}

/** SOURCE_DATE_EPOCH from the environment, if set and valid. */
export function sourceDateEpoch(env = process.env): number | undefined {
  const v = env.SOURCE_DATE_EPOCH;
  return v && /^\d+$/.test(v) ? Number(v) : undefined;
}
