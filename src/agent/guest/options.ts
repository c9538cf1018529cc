import { parseArgs } from "node:util";
import { DEFAULT_PORT } from "./transport-virtio.js";

export type TransportChoice =
  { kind: "virtio"; path: string } | { kind: "unix"; path: string } | { kind: "stdio" };

export interface MainOptions {
  transport: TransportChoice;
  /** What to do about running as PID 1 without a reaper: warn on stderr (default) or not. */
  pid1: "warn" | "quiet";
  quiet: boolean;
  help: boolean;
  version: boolean;
}

export const USAGE = `Usage: plinth-agent [--port PATH | --listen-unix PATH | --stdio] [--pid1 warn|quiet] [--quiet]

  --port PATH         virtio-serial port to serve (default ${DEFAULT_PORT};
                      env PLINTH_AGENT_PORT)
  --listen-unix PATH  listen on a Unix socket instead (env PLINTH_AGENT_LISTEN_UNIX)
  --stdio             serve one connection on stdin/stdout, exit when it ends
  --pid1 warn|quiet   as PID 1, warn that orphaned processes are not reaped (default
                      warn; env PLINTH_AGENT_PID1)
  --quiet             no log lines on stderr
  --version, --help`;

/** argv (then environment) → options, or an error message for the user. */
export function parseOptions(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): { options: MainOptions } | { error: string } {
  let values;
  try {
    values = parseArgs({
      args: argv,
      options: {
        port: { type: "string" },
        "listen-unix": { type: "string" },
        stdio: { type: "boolean" },
        pid1: { type: "string" },
        quiet: { type: "boolean" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean" },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    return { error: (error as Error).message };
  }
  const chosen = [values.port !== undefined, values["listen-unix"] !== undefined, values.stdio];
  if (chosen.filter(Boolean).length > 1) {
    return { error: "choose one of --port, --listen-unix and --stdio" };
  }
  const pid1 = values.pid1 ?? env.PLINTH_AGENT_PID1 ?? "warn";
  if (pid1 !== "warn" && pid1 !== "quiet") return { error: "--pid1 must be warn or quiet" };
  let transport: TransportChoice;
  if (values.stdio) transport = { kind: "stdio" };
  else if (values["listen-unix"] !== undefined)
    transport = { kind: "unix", path: values["listen-unix"] };
  else if (values.port !== undefined) transport = { kind: "virtio", path: values.port };
  else if (env.PLINTH_AGENT_LISTEN_UNIX)
    transport = { kind: "unix", path: env.PLINTH_AGENT_LISTEN_UNIX };
  else transport = { kind: "virtio", path: env.PLINTH_AGENT_PORT || DEFAULT_PORT };
  return {
    options: {
      transport,
      pid1,
      quiet: values.quiet ?? false,
      help: values.help ?? false,
      version: values.version ?? false,
    },
  };
}
