import type { Duplex } from "node:stream";
import { FrameType, HEADER_SIZE, PROTOCOL_VERSION, SESSION_ID } from "../protocol/constants.js";
import { FrameDecoder } from "../protocol/decoder.js";
import { parseJsonPayload, type Frame } from "../protocol/frame.js";
import { ErrorCode, type ErrorPayload, type HelloResponse } from "../protocol/messages.js";
import { isProtocolVersion, protocolMismatch } from "../protocol/version.js";
import { FrameWriter } from "../protocol/writer.js";
import type { AgentEnv } from "./env.js";
import { Args } from "./args.js";
import { OpError } from "./errors.js";
import { handlers } from "./ops/index.js";
import { Request, type RequestOwner } from "./request.js";
import { AGENT_NAME } from "./version.js";

/**
 * The agent's side of one connection. It decodes frames, answers hello, runs requests
 * concurrently by id and routes their stream frames. Nothing the host sends can make it
 * throw: bad frames get an ERROR reply (or a session notice, id 0) and the decoder
 * resyncs past garbage. A hello at any time starts a new session on the connection,
 * dropping the requests of the previous one (that is how a host that lost track, e.g.
 * after a snapshot restore, starts clean).
 */
export class Session implements RequestOwner {
  readonly writer: FrameWriter;
  readonly closed: Promise<void>;
  private readonly decoder: FrameDecoder;
  private readonly requests = new Map<number, Request>();
  private greeted = false;
  /** Number of the current session, for log lines; 0 before the first hello. */
  private number = 0;
  private isClosed = false;
  private resolveClosed!: () => void;

  constructor(
    private readonly io: Duplex,
    private readonly env: AgentEnv,
    private readonly nextSessionNumber: () => number,
  ) {
    this.writer = new FrameWriter(io);
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.decoder = new FrameDecoder(
      {
        frame: (frame) => this.guard(() => this.onFrame(frame)),
        oversize: (h) =>
          this.guard(() =>
            this.reject(
              h.id,
              ErrorCode.FRAME_TOO_LARGE,
              `frame of ${h.length} bytes exceeds ${env.maxFrameSize}`,
            ),
          ),
        garbage: (bytes) =>
          this.guard(() =>
            this.notice({
              code: ErrorCode.RESYNC,
              message: `skipped ${bytes} bytes that were not a frame`,
              skipped: bytes,
            }),
          ),
      },
      env.maxFrameSize,
    );
    io.on("data", (chunk: Buffer) => this.decoder.push(chunk));
    io.on("end", () => this.close());
    io.on("close", () => this.close());
    io.on("error", (error) => {
      env.log(`connection error: ${error.message}`);
      this.close();
    });
  }

  /** Requests running now. */
  get active(): number {
    return this.requests.size;
  }

  finished(request: Request): void {
    if (this.requests.get(request.id) === request) this.requests.delete(request.id);
  }

  /** Drop every request and close the connection. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    if (this.number > 0) this.env.log(`session ${this.number}: connection closed`);
    this.dropAll();
    this.io.destroy();
    this.resolveClosed();
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      // A bug in the agent, not bad input; log it and keep serving.
      this.env.log(`internal error: ${(error as Error).stack ?? String(error)}`);
    }
  }

  private onFrame(frame: Frame): void {
    if (frame.type === FrameType.REQUEST) return this.onRequest(frame);
    const request = this.requests.get(frame.id);
    switch (frame.type) {
      case FrameType.DATA:
        request?.data(frame.channel, frame.payload);
        return;
      case FrameType.END:
        request?.end(frame.channel);
        return;
      case FrameType.CREDIT:
        if (frame.payload.length !== 4) {
          return this.reject(frame.id, ErrorCode.BAD_FRAME, "CREDIT payload must be 4 bytes");
        }
        request?.credit(frame.channel, frame.payload.readUInt32BE(0));
        return;
      case FrameType.CANCEL: {
        let signal: string | undefined;
        try {
          const body = parseJsonPayload(frame.payload);
          signal = typeof body.signal === "string" ? body.signal : undefined;
        } catch {
          return this.reject(frame.id, ErrorCode.BAD_FRAME, "CANCEL payload must be empty or JSON");
        }
        request?.cancel(signal);
        return;
      }
      default:
        // Late frames for finished requests are normal and ignored above; a frame type the
        // agent never receives is an error even then.
        return this.reject(frame.id, ErrorCode.BAD_FRAME, `unexpected frame type ${frame.type}`);
    }
  }

  private onRequest(frame: Frame): void {
    if (frame.id === SESSION_ID) {
      return this.notice({ code: ErrorCode.BAD_REQUEST, message: "request id 0 is reserved" });
    }
    let body: Record<string, unknown>;
    try {
      body = parseJsonPayload(frame.payload);
    } catch (error) {
      return this.reject(frame.id, ErrorCode.BAD_REQUEST, `bad JSON: ${(error as Error).message}`);
    }
    const op = body.op;
    if (op === "hello") return this.hello(frame.id, body);
    if (!this.greeted) return this.reject(frame.id, ErrorCode.NO_HELLO, "send hello first");
    if (this.requests.has(frame.id)) {
      return this.notice({
        code: ErrorCode.DUPLICATE_ID,
        message: `request ${frame.id} is still running`,
        id: frame.id,
      });
    }
    const handler = typeof op === "string" ? handlers.get(op) : undefined;
    if (!handler)
      return this.reject(frame.id, ErrorCode.UNKNOWN_OP, `unknown op ${JSON.stringify(op)}`);
    const request = new Request(frame.id, op as string, this);
    this.requests.set(frame.id, request);
    let result: Promise<unknown>;
    try {
      result = Promise.resolve(handler(request, new Args(body), this.env));
    } catch (error) {
      result = Promise.reject(error);
    }
    result.then(
      (value) => request.respond(value),
      (error: unknown) => request.fail(error),
    );
  }

  private hello(id: number, body: Record<string, unknown>): void {
    const nonce = typeof body.nonce === "string" ? body.nonce : undefined;
    this.dropAll();
    this.greeted = false;
    if (!isProtocolVersion(body.protocol)) {
      return this.reply(id, {
        code: ErrorCode.BAD_REQUEST,
        message: "hello needs protocol: {major, minor}",
        nonce,
      });
    }
    const mismatch = protocolMismatch(body.protocol);
    if (mismatch) {
      return this.reply(id, {
        code: ErrorCode.PROTOCOL_MISMATCH,
        message: `agent ${this.env.version} speaks ${mismatch}`,
        nonce,
        agentVersion: this.env.version,
        agentProtocol: PROTOCOL_VERSION,
      });
    }
    // The host retries hello with pad when a reply did not come: zeros complete any
    // partial frame a previous session left in the host's decoder (see docs: Resync).
    if (body.pad === true) this.writer.raw(Buffer.alloc(HEADER_SIZE + this.env.maxFrameSize));
    this.greeted = true;
    this.number = this.nextSessionNumber();
    const client = typeof body.client === "string" ? body.client.slice(0, 100) : "unknown";
    this.env.log(`session ${this.number}: hello from ${client}`);
    const response: HelloResponse = {
      agent: AGENT_NAME,
      version: this.env.version,
      protocol: { ...PROTOCOL_VERSION },
      capabilities: ["hello", ...handlers.keys()],
      nonce: nonce ?? "",
      pid: process.pid,
      pid1: process.pid === 1,
      maxFrameSize: this.env.maxFrameSize,
      window: this.env.window,
      session: this.number,
    };
    this.writer.json(FrameType.RESPONSE, id, response);
  }

  private dropAll(): void {
    const requests = [...this.requests.values()];
    this.requests.clear();
    for (const request of requests) request.drop();
  }

  /** An ERROR for `id`: ends that request if it runs, else answers the frame. */
  private reject(id: number, code: string, message: string): void {
    const request = this.requests.get(id);
    if (request) {
      request.fail(new OpError(code, message));
      request.drop();
    } else if (id === SESSION_ID) {
      this.notice({ code, message });
    } else {
      this.reply(id, { code, message });
    }
  }

  private reply(id: number, error: ErrorPayload): void {
    this.writer.error(id, error);
  }

  private notice(error: ErrorPayload): void {
    this.writer.error(SESSION_ID, error);
  }
}
