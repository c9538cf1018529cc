import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

/**
 * Every temp dir the tests make (image stores of several GB among them) goes under one
 * directory per run, removed at the end, so repeated runs do not fill the disk. Each
 * vitest project runs this setup: the first one makes the dir, the others reuse it (a
 * nested dir would push VM socket paths past the 108 bytes a Unix socket allows).
 */
export default function setup(): () => void {
  if (process.env.PLINTH_TESTS_TMP) return () => undefined;
  const dir = mkdtempSync(path.join(os.tmpdir(), "plinth-tests-"));
  chmodSync(dir, 0o755); // the rootless test's plain user must reach its own dir inside
  process.env.TMPDIR = dir;
  process.env.PLINTH_TESTS_TMP = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
