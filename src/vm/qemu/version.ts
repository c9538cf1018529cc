import { execFileSync } from "node:child_process";

let cached: string | undefined;

/** QEMU's version ("7.2.22"): a snapshot records it, a restore compares it. */
export function qemuVersion(): string {
  cached ??=
    /version (\S+)/.exec(
      execFileSync("qemu-system-x86_64", ["--version"], { encoding: "utf8" }),
    )?.[1] ?? "unknown";
  return cached;
}
