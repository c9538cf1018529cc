import type { Duplex } from "node:stream";
import { joinStreams } from "./join-streams.js";
import { whenClosed, type Transport } from "./transport.js";

/**
 * One connection on stdin/stdout (tests, development, or a host that runs the agent
 * over ssh). The transport ends with that connection; main then exits. Log lines go
 * to stderr, never to stdout.
 */
export function stdioTransport(): Transport {
  let io: Duplex | undefined;
  return {
    name: "stdio",
    async *connections() {
      io = joinStreams(process.stdin, process.stdout, () => {
        process.stdin.pause();
        process.stdin.destroy();
      });
      yield io;
      await whenClosed(io);
    },
    close() {
      io?.destroy();
    },
  };
}
