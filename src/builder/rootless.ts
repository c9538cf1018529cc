import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { errorFromJSON, PlinthError, UserError } from "../errors.js";
import type { EventSink, PlinthEvent } from "../events.js";
import { which } from "../host/tools.js";

/** Running in a user namespace (as its root), not as the host's root. */
export function inUserNamespace(): boolean {
  try {
    const first = readFileSync("/proc/self/uid_map", "utf8").trim().split(/\s+/);
    return !(first[0] === "0" && first[1] === "0");
  } catch {
    return false;
  }
}

/**
 * Rootless builds: after the bootstrap stage (mmdebstrap's own `unshare` mode, outside),
 * the rest of the build runs as `plinth build` again inside a user namespace where this
 * user is root and its /etc/subuid range maps the image's other owners. Inside, chroot,
 * chown and mke2fs -d see the image's own uids; the bootstrap is a cache hit (its key
 * does not include the mode). Events come back as JSON lines and are re-emitted.
 */
export async function buildInUserNamespace(
  args: { specFile: string; sets: string[]; outDir?: string; force?: boolean },
  emit: EventSink,
  signal?: AbortSignal,
  o: { showBootstrap?: boolean; noCache?: boolean } = {},
): Promise<string> {
  if (!which("newuidmap"))
    throw new UserError("TOOL_MISSING", "Rootless builds need newuidmap.", {
      hint: "Install uidmap.",
    });
  // This plinth's own CLI: dist/cli/main.js, or src/cli/main.ts when run from source
  // (through tsx, whose --import flag is then in execArgv).
  const self = fileURLToPath(import.meta.url);
  const ext = path.extname(self);
  const cli = path.resolve(path.dirname(self), "..", "cli", `main${ext}`);
  const node = ext === ".ts" ? [process.execPath, ...process.execArgv] : [process.execPath];
  const argv = [
    "unshare",
    "--map-root-user",
    "--map-auto",
    "--mount",
    "--",
    ...node,
    cli,
    "build",
    args.specFile,
  ];
  for (const s of args.sets) argv.push("--set", s);
  if (args.outDir) argv.push("-o", args.outDir);
  argv.push("--json");
  if (args.force) argv.push("--force");
  if (o.noCache) argv.push("--no-cache");
  const child = execa(argv[0]!, argv.slice(1), {
    reject: false,
    cancelSignal: signal,
    stdin: "ignore",
  });
  let last: { imageDir?: string; error?: Record<string, unknown> } = {};
  let buf = "";
  child.stdout?.on("data", (b: Buffer) => {
    buf += b.toString();
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        const msg = JSON.parse(line) as { event?: PlinthEvent } & typeof last;
        // The inner bootstrap is a cache hit of the one just done out here: not news
        // (unless the bootstrap happens in there: a container base).
        if (msg.event) {
          const bootstrap = "stage" in msg.event && msg.event.stage === "bootstrap";
          if (o.showBootstrap || !bootstrap) emit(msg.event);
        } else last = msg;
      } catch {
        // not ours
      }
    }
  });
  const r = await child;
  if (last.imageDir && r.exitCode === 0) return last.imageDir;
  // The same class and code as inside: a spec error is still a SpecError (exit 2).
  if (last.error) throw errorFromJSON(last.error);
  throw new PlinthError(
    "BUILD_FAILED",
    `the rootless build step failed: ${String(r.stderr).trim().split("\n").slice(-5).join("\n")}`,
  );
}
