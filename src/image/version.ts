import path from "node:path";
import { execa } from "execa";

/**
 * `MAJOR.MINOR.PATCH-YYYYMMDD-gitshort`, with `-dirty` after it when the spec's work tree
 * has uncommitted changes to tracked files or the spec itself is not committed (the
 * commit alone then does not say what was built). The date is the build's epoch
 * (docs/build.md, "Reproducibility").
 */
export async function imageVersion(
  semver: string,
  specFile: string,
  epoch: number,
): Promise<string> {
  const core = semver.split(/[-+]/)[0]!;
  const date = new Date(epoch * 1000);
  const ymd = date.toISOString().slice(0, 10).replaceAll("-", "");
  return `${core}-${ymd}-${await gitDescribe(specFile)}`;
}

async function gitDescribe(specFile: string): Promise<string> {
  const git = (...args: string[]) =>
    execa("git", ["-C", path.dirname(specFile), ...args], { reject: false });
  const head = await git("rev-parse", "--short=7", "HEAD");
  const short = String(head.stdout).trim();
  if (head.exitCode !== 0 || !/^[0-9a-f]+$/.test(short)) return "nogit";
  const [status, tracked] = await Promise.all([
    git("status", "--porcelain", "--untracked-files=no"),
    git("ls-files", "--error-unmatch", "--", path.basename(specFile)),
  ]);
  const dirty = String(status.stdout).trim() !== "" || tracked.exitCode !== 0;
  return dirty ? `${short}-dirty` : short;
}

export interface ParsedVersion {
  major: number;
  minor: number;
  patch: number;
  date?: string;
  git?: string;
  /** Built from a work tree with uncommitted changes. */
  dirty?: boolean;
}

export function parseImageVersion(v: string): ParsedVersion | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)(?:-(\d{8})-([0-9a-z]+)(-dirty)?)?$/.exec(v);
  if (!m) return undefined;
  return {
    major: Number(m[1]),
    minor: Number(m[2]),
    patch: Number(m[3]),
    date: m[4],
    git: m[5],
    ...(m[6] ? { dirty: true } : {}),
  };
}

/** SOURCE_DATE_EPOCH from the environment, if set and valid. */
export function sourceDateEpoch(env = process.env): number | undefined {
  const v = env.SOURCE_DATE_EPOCH;
  return v && /^\d+$/.test(v) ? Number(v) : undefined;
}
