import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";

export const ROOT = path.resolve(import.meta.dirname, "..");
/**
 * node's arguments to run the CLI from src/ (through tsx), so a test run after an edit
 * tests the edit, with no build in between. Only the package-exports test uses dist/.
 */
export const CLI = [
  "--import",
  // By path: a test may run the CLI from a directory that cannot resolve packages.
  createRequire(import.meta.url).resolve("tsx"),
  path.join(ROOT, "src", "cli", "main.ts"),
];

/** A temp dir holding the given files (name → content). */
export function tempFiles(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "plinth-test-"));
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(dir, name), content);
  return dir;
}

/** Run the built CLI; never throws, returns exit code and output. */
export async function cli(args: string[], env: Record<string, string> = {}) {
  const r = await execa("node", [...CLI, ...args], { reject: false, env, all: false });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/**
 * Integration tests need root and the host tools. In CI their absence is a failure;
 * elsewhere the suite is skipped with the reason printed (never silently).
 */
export function integrationSkipReason(): string | undefined {
  const reason =
    process.getuid?.() !== 0
      ? "integration tests need root (mmdebstrap root mode, chroot)"
      : undefined;
  if (reason && process.env.CI) throw new Error(`${reason}; CI must run them`);
  if (reason) console.warn(`skipping integration tests: ${reason}`);
  return reason;
}

/** A rendered config file without its comment header and blank lines. */
export const configBody = (text: string) =>
  text
    .split("\n")
    .filter((l) => l && !l.startsWith("#"))
    .join("\n");

/** A metadata.json body that the store and the VM code accept (no artifacts behind it). */
export function fakeMetadata(fields: { name: string; version: string; buildHash: string }) {
  return {
    schemaVersion: 1,
    arch: "amd64",
    base: { distro: "debian", suite: "bookworm" },
    created: "2026-12-02T00:00:00.000Z",
    specDigest: "0".repeat(64),
    init: "minimal",
    agent: true,
    kernel: { cmdline: "console=ttyS0" },
    artifacts: [{ name: "rootfs.ext4", kind: "rootfs", size: 1, sha256: "a".repeat(64) }],
    packages: [],
    spec: {},
    ...fields,
  };
}

/** `$home/vms/<name>/`: a VM plinth stopped with its state kept (no QEMU behind it). */
export function keptVm(home: string, name: string, consoleLog: string): string {
  const dir = path.join(home, "vms", name);
  mkdirSync(dir, { recursive: true });
  const config = {
    name,
    image: path.join(home, "images", "minimal", "0.1.0"),
    imageName: "minimal",
    imageVersion: "0.1.0",
    accel: "tcg",
    memMiB: 1024,
    cpus: 1,
    detached: true,
    created: "2026-12-02T00:00:00.000Z",
    status: "exited",
  };
  writeFileSync(path.join(dir, "config.json"), JSON.stringify(config));
  writeFileSync(path.join(dir, "console.log"), consoleLog);
  return dir;
}

/** A small ext4 image of a tree given as path → content (`-> target` for a symlink). */
export function ext4Of(tree: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "plinth-ext4-"));
  const root = path.join(dir, "root");
  for (const [p, content] of Object.entries(tree)) {
    const at = path.join(root, p);
    mkdirSync(path.dirname(at), { recursive: true });
    if (content.startsWith("-> ")) symlinkSync(content.slice(3), at);
    else writeFileSync(at, content);
  }
  mkdirSync(root, { recursive: true });
  const image = path.join(dir, "rootfs.ext4");
  execFileSync("mke2fs", ["-q", "-F", "-t", "ext4", "-d", root, image, "8M"]);
  return image;
}
