// The agent's entry point, bundled into dist/agent/plinth-agent.js and run by the guest's
// Node.js (>= 18). It must only use node: builtins and Node 18 APIs.

// Reads and writes of a virtio port block a libuv pool thread each while idle; give file
// operations room. libuv reads this when the pool first starts, which is after this line.
const setThreadpool = process.env.UV_THREADPOOL_SIZE === undefined;
if (setThreadpool) process.env.UV_THREADPOOL_SIZE = "16";

import { Agent } from "./agent.js";
import { childBaseEnv } from "./env.js";
import { parseOptions, USAGE, type MainOptions } from "./options.js";
import type { Transport } from "./transport.js";
import { stdioTransport } from "./transport-stdio.js";
import { unixListenTransport } from "./transport-unix.js";
import { virtioSerialTransport } from "./transport-virtio.js";
import { AGENT_VERSION } from "./version.js";

function openTransport(options: MainOptions, log: (m: string) => void): Transport {
  switch (options.transport.kind) {
    case "stdio":
      return stdioTransport();
    case "unix":
      return unixListenTransport(options.transport.path);
    case "virtio":
      return virtioSerialTransport({ path: options.transport.path, log });
  }
}

async function main(): Promise<number> {
  const parsed = parseOptions(process.argv.slice(2));
  if ("error" in parsed) {
    process.stderr.write(`plinth-agent: ${parsed.error}\n${USAGE}\n`);
    return 2;
  }
  const options = parsed.options;
  if (options.help) {
    process.stderr.write(`${USAGE}\n`);
    return 0;
  }
  if (options.version) {
    process.stderr.write(`${AGENT_VERSION}\n`);
    return 0;
  }
  const log = options.quiet
    ? () => {}
    : (message: string) => process.stderr.write(`plinth-agent: ${message}\n`);

  // The agent must outlive its own bugs: as PID 1 its exit panics the kernel, and as a
  // service it would drop every session. Log and keep serving.
  process.on("uncaughtException", (error) => log(`uncaught: ${error.stack ?? String(error)}`));
  process.on("unhandledRejection", (error) => log(`unhandled rejection: ${String(error)}`));

  if (process.pid === 1 && options.pid1 === "warn") {
    log(
      "running as PID 1: orphaned processes will stay zombies (Node cannot waitpid(-1)); " +
        "start the agent under a reaper, or pass --pid1 quiet if that is acceptable",
    );
  }

  const baseEnv = childBaseEnv();
  if (setThreadpool) delete baseEnv.UV_THREADPOOL_SIZE;
  const agent = new Agent({ log, baseEnv });
  const transport = openTransport(options, log);
  blockingReads = options.transport.kind === "virtio";
  if (process.pid !== 1) {
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      process.once(signal, () => {
        transport.close();
        agent.close();
        exitNow(0);
      });
    }
  }
  log(`${AGENT_VERSION} serving ${transport.name}`);
  await agent.serve(transport);
  agent.close();
  return 0;
}

/**
 * Exit without waiting for libuv's thread pool: a pool thread blocked in read() on the
 * virtio port never returns, and a normal exit joins it, hanging forever (systemd then
 * waits on us at shutdown). SIGKILL to ourselves cannot hang.
 */
let blockingReads = false;

function exitNow(code: number): void {
  if (!blockingReads) process.exit(code);
  process.kill(process.pid, "SIGKILL");
}

main().then(
  (code) => exitNow(code),
  (error: unknown) => {
    process.stderr.write(`plinth-agent: ${(error as Error).stack ?? String(error)}\n`);
    exitNow(1);
  },
);
