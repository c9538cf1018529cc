import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

/**
 * Every temp dir the tests make (image stores of several GB among them) goes under one
 * directory per run, removed at the end, so repeated runs do not fill the disk.
 */
export default function setup(): () => void {
  const dir = mkdtempSync(path.join(os.tmpdir(), "plinth-tests-"));
  chmodSync(dir, 0o755); // the rootless test's plain user must reach its own dir inside
  process.env.TMPDIR = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
