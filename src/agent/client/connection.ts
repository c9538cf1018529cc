import type { Duplex } from "node:stream";
import { plural } from "../../util/plural.js";
import { FrameType, MAX_FRAME_SIZE, SESSION_ID } from "../protocol/constants.js";
import { FrameDecoder } from "../protocol/decoder.js";
import { parseJsonPayload, type Frame } from "../protocol/frame.js";
import { ErrorCode, type ErrorPayload } from "../protocol/messages.js";
import { FrameWriter } from "../protocol/writer.js";
import {
  AgentClosedError,
  AgentProtocolError,
  AgentRemoteError,
  AgentTimeoutError,
} from "./errors.js";

/** How one request takes the frames addressed to it. */
export interface RequestHandlers {
  onData?(channel: number, payload: Buffer): void;
  onCredit?(channel: number, bytes: number): void;
  /** Replies it returns false for are ignored (hello: replies left from an earlier session). */
  accept?(payload: Record<string, unknown>): boolean;
}

export interface StartedRequest<T> {
  readonly id: number;
  /** RESPONSE payload; rejects with AgentRemoteError, AgentTimeoutError or AgentClosedError. */
  readonly result: Promise<T>;
  /** CANCEL: a signal for exec, an abort for other requests. */
  cancel(signal?: string): void;
  /**
   * The caller stopped caring (aborted, timed out): stream data is still drained and
   * credited until the agent ends the request, so the agent is never left blocked.
   */
  abandon(): void;
}

interface Pending {
  op: string;
  handlers: RequestHandlers;
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer?: NodeJS.Timeout;
}

/**
 * The host's end of one connection: frames in and out, requests by id. It never throws
 * on what the agent sends; garbage is skipped by the decoder and reported as a notice.
 */
export class Connection {
  readonly writer: FrameWriter;
  private readonly decoder: FrameDecoder;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closedBy: Error | undefined;

  constructor(
    private readonly io: Duplex,
    private readonly onNotice: (notice: ErrorPayload) => void,
    maxFrameSize = MAX_FRAME_SIZE,
  ) {
    this.writer = new FrameWriter(io);
    this.decoder = new FrameDecoder(
      {
        frame: (frame) => {
          try {
            this.onFrame(frame);
          } catch (error) {
            // A request's handler choked on what the agent sent: that request fails, not the connection.
            this.settle(
              frame.id,
              new AgentProtocolError(`bad data from the agent: ${(error as Error).message}`, {
                cause: error,
              }),
            );
          }
        },
        oversize: (h) => {
          this.onNotice({
            code: ErrorCode.FRAME_TOO_LARGE,
            message: `the agent sent a frame of ${h.length} bytes`,
          });
          this.settle(
            h.id,
            new AgentProtocolError(`reply of ${h.length} bytes exceeds the frame limit`),
          );
        },
        garbage: (bytes) =>
          this.onNotice({
            code: ErrorCode.RESYNC,
            message: `skipped ${plural(bytes, "byte")} from the agent that did not make a frame`,
            skipped: bytes,
            local: true,
          }),
      },
      maxFrameSize,
    );
    io.on("data", (chunk: Buffer) => this.decoder.push(chunk));
    io.on("end", () =>
      this.shutdown(new AgentClosedError("The guest agent closed the connection.")),
    );
    io.on("close", () => this.shutdown(new AgentClosedError()));
    io.on("error", (error) =>
      this.shutdown(
        new AgentClosedError(`The connection to the guest agent failed: ${error.message}`, {
          cause: error,
        }),
      ),
    );
  }

  get closed(): boolean {
    return this.closedBy !== undefined;
  }

  start<T>(
    op: string,
    args: Record<string, unknown>,
    handlers: RequestHandlers = {},
    timeoutMs = 0,
  ): StartedRequest<T> {
    const id = this.allocateId();
    let entry!: Pending;
    const result = new Promise<T>((resolve, reject) => {
      entry = { op, handlers, resolve: resolve as (v: unknown) => void, reject };
    });
    // Callers that abandon a request never look at its result again.
    result.catch(() => {});
    if (this.closedBy) {
      entry.reject(this.closedBy);
    } else {
      this.pending.set(id, entry);
      if (timeoutMs > 0) {
        entry.timer = setTimeout(
          () => this.settle(id, new AgentTimeoutError(op, timeoutMs)),
          timeoutMs,
        );
      }
      try {
        this.writer.json(FrameType.REQUEST, id, { ...args, op });
      } catch (error) {
        this.settle(
          id,
          new AgentProtocolError(`${op} request is too large: ${(error as Error).message}`),
        );
      }
    }
    return {
      id,
      result,
      cancel: (signal) => {
        if (this.pending.has(id)) this.writer.cancel(id, signal);
      },
      abandon: () => {
        entry.handlers = {
          onData: (channel, payload) => this.writer.credit(id, channel, payload.length),
        };
      },
    };
  }

  /** Fail every request, e.g. because a new hello resets the session. */
  rejectAll(error: Error): void {
    for (const id of [...this.pending.keys()]) this.settle(id, error);
  }

  /** End the connection and fail what is still running. */
  async close(): Promise<void> {
    this.shutdown(
      new AgentClosedError("The connection to the guest agent was closed by the host."),
    );
    if (this.io.writableEnded || this.io.destroyed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1000);
      this.io.end(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.io.destroy();
  }

  private shutdown(error: Error): void {
    if (this.closedBy) return;
    this.closedBy = error;
    this.rejectAll(error);
  }

  private allocateId(): number {
    for (;;) {
      const id = this.nextId;
      this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
      if (id !== SESSION_ID && !this.pending.has(id)) return id;
    }
  }

  private settle(id: number, outcome: Error | { value: unknown }): void {
    const entry = this.pending.get(id);
    if (!entry) return;
    this.pending.delete(id);
    clearTimeout(entry.timer);
    if (outcome instanceof Error) entry.reject(outcome);
    else entry.resolve(outcome.value);
  }

  private onFrame(frame: Frame): void {
    if (frame.type === FrameType.ERROR && frame.id === SESSION_ID) {
      return this.onNotice(this.parseError(frame.payload));
    }
    const entry = this.pending.get(frame.id);
    if (!entry) return; // Late frames of a settled request, or of an earlier session.
    switch (frame.type) {
      case FrameType.RESPONSE: {
        let value: Record<string, unknown>;
        try {
          value = parseJsonPayload(frame.payload);
        } catch (error) {
          return this.settle(
            frame.id,
            new AgentProtocolError(`bad ${entry.op} reply`, { cause: error }),
          );
        }
        if (entry.handlers.accept && !entry.handlers.accept(value)) return;
        return this.settle(frame.id, { value });
      }
      case FrameType.ERROR: {
        const error = this.parseError(frame.payload);
        if (entry.handlers.accept && !entry.handlers.accept(error)) return;
        const { code, message, ...details } = error;
        return this.settle(frame.id, new AgentRemoteError(entry.op, code, message, details));
      }
      case FrameType.DATA:
        if (entry.handlers.onData) entry.handlers.onData(frame.channel, frame.payload);
        else this.writer.credit(frame.id, frame.channel, frame.payload.length);
        return;
      case FrameType.CREDIT:
        if (frame.payload.length === 4) {
          entry.handlers.onCredit?.(frame.channel, frame.payload.readUInt32BE(0));
        }
        return;
      default:
        this.onNotice({
          code: ErrorCode.BAD_FRAME,
          message: `the agent sent an unexpected frame of type ${frame.type}`,
          local: true,
        });
    }
  }

  private parseError(payload: Buffer): ErrorPayload {
    try {
      const body = parseJsonPayload(payload);
      return {
        ...body,
        code: typeof body.code === "string" ? body.code : ErrorCode.INTERNAL,
        message: typeof body.message === "string" ? body.message : "unknown error",
      };
    } catch {
      return { code: ErrorCode.INTERNAL, message: "unreadable error from the agent" };
    }
  }
}
