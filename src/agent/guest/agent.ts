import type { Duplex } from "node:stream";
import { INITIAL_WINDOW, MAX_FRAME_SIZE } from "../protocol/constants.js";
import { childBaseEnv, type AgentEnv } from "./env.js";
import { powerOff } from "./power.js";
import { Session } from "./session.js";
import type { Transport } from "./transport.js";
import { AGENT_VERSION } from "./version.js";

export type AgentOptions = Partial<Omit<AgentEnv, "startedAt" | "window">>;

/**
 * The guest agent, independent of how bytes reach it: `handle` serves one connection
 * (any Duplex), `serve` every connection a transport yields. When a connection ends, its
 * session drops its requests: running processes get SIGKILL (to their process group),
 * unfinished file writes are removed. Nothing survives into the next connection.
 */
export class Agent {
  readonly env: AgentEnv;
  private readonly sessions = new Set<Session>();
  private sessionCount = 0;

  constructor(options: AgentOptions = {}) {
    this.env = {
      version: options.version ?? AGENT_VERSION,
      startedAt: performance.now(),
      maxFrameSize: options.maxFrameSize ?? MAX_FRAME_SIZE,
      window: INITIAL_WINDOW,
      passwdFile: options.passwdFile ?? "/etc/passwd",
      groupFile: options.groupFile ?? "/etc/group",
      osReleaseFiles: options.osReleaseFiles ?? ["/etc/os-release", "/usr/lib/os-release"],
      baseEnv: options.baseEnv ?? childBaseEnv(),
      powerOff: options.powerOff ?? powerOff,
      log: options.log ?? (() => {}),
    };
  }

  /** Connections being served now. */
  get connections(): number {
    return this.sessions.size;
  }

  /** Requests running now, over all connections. */
  get requests(): number {
    let n = 0;
    for (const session of this.sessions) n += session.active;
    return n;
  }

  /** Serve one connection; resolves when it has ended and its requests were dropped. */
  handle(io: Duplex): Promise<void> {
    const session = new Session(io, this.env, () => ++this.sessionCount);
    this.sessions.add(session);
    return session.closed.then(() => {
      this.sessions.delete(session);
    });
  }

  /**
   * Serve every connection of `transport` until it closes. (Sessions log their hello and
   * end; connections are not logged, a virtio port without host reconnects ten times a
   * second.)
   */
  async serve(transport: Transport): Promise<void> {
    for await (const io of transport.connections()) void this.handle(io);
  }

  /** End every connection (their requests are dropped as on a disconnect). */
  close(): void {
    for (const session of this.sessions) session.close();
  }
}
