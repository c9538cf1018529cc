import { CreditSender } from "../protocol/credit.js";
import { FrameType } from "../protocol/constants.js";
import { ErrorCode } from "../protocol/messages.js";
import type { FrameWriter } from "../protocol/writer.js";
import { OpError, toErrorPayload } from "./errors.js";
import { InputStream } from "./input.js";

/** What a request needs from its session. */
export interface RequestOwner {
  readonly writer: FrameWriter;
  /** The request sent its last frame (or was dropped): forget it. */
  finished(request: Request): void;
}

/**
 * One running request: its streams in both directions, its abort signal, and the one
 * final RESPONSE or ERROR. Once finished or dropped it sends nothing more, so a late
 * frame can never be taken for one of a later request reusing the id.
 */
export class Request {
  private readonly controller = new AbortController();
  private readonly inputs = new Map<number, InputStream>();
  private readonly outputs = new Map<number, CreditSender>();
  private done = false;
  /** Runs once the RESPONSE has been handed to the transport (shutdown powers off then). */
  afterResponse: (() => void) | undefined;
  /** What CANCEL does; exec replaces it to deliver a signal instead of aborting. */
  onCancel: (signal: string | undefined) => void = () =>
    this.controller.abort(new OpError(ErrorCode.CANCELLED, "cancelled by the host"));

  constructor(
    readonly id: number,
    readonly op: string,
    private readonly owner: RequestOwner,
  ) {
    // An aborted request reads no more input: its handler's loops end.
    this.controller.signal.addEventListener("abort", () => {
      for (const input of this.inputs.values()) input.abort();
    });
  }

  /** Aborted on CANCEL (except exec), on a new hello and when the connection ends. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get finished(): boolean {
    return this.done;
  }

  /** Bytes from the host on `channel`; created on first use by either side. */
  input(channel: number): InputStream {
    let input = this.inputs.get(channel);
    if (!input) {
      input = new InputStream((bytes) => {
        if (!this.done) this.owner.writer.credit(this.id, channel, bytes);
      });
      if (this.done || this.signal.aborted) input.abort();
      this.inputs.set(channel, input);
    }
    return input;
  }

  /** Bytes to the host on `channel`, within the credit the host grants. */
  output(channel: number): CreditSender {
    let output = this.outputs.get(channel);
    if (!output) {
      output = new CreditSender((chunk) => this.owner.writer.data(this.id, channel, chunk));
      if (this.done) output.close();
      this.outputs.set(channel, output);
    }
    return output;
  }

  respond(value: unknown): void {
    if (this.finish()) {
      const after = this.afterResponse;
      try {
        this.owner.writer.json(FrameType.RESPONSE, this.id, value ?? {}, after);
      } catch (error) {
        this.owner.writer.error(this.id, toErrorPayload(error));
      }
    }
  }

  fail(error: unknown): void {
    if (this.finish()) this.owner.writer.error(this.id, toErrorPayload(error));
  }

  // Frames from the host for this request.

  data(channel: number, payload: Buffer): void {
    if (!this.input(channel).push(payload)) {
      const error = new OpError(
        ErrorCode.FLOW_CONTROL,
        `more bytes on channel ${channel} than granted`,
      );
      this.fail(error);
      this.controller.abort(error);
    }
  }

  end(channel: number): void {
    this.input(channel).end();
  }

  credit(channel: number, bytes: number): void {
    this.output(channel).grant(bytes);
  }

  cancel(signal: string | undefined): void {
    if (!this.done) this.onCancel(signal);
  }

  /** The session is over or reset: stop without a reply. */
  drop(): void {
    this.finish();
    this.controller.abort(new OpError(ErrorCode.SESSION_RESET, "the session ended"));
  }

  private finish(): boolean {
    if (this.done) return false;
    this.done = true;
    for (const input of this.inputs.values()) input.abort();
    for (const output of this.outputs.values()) output.close();
    this.owner.finished(this);
    return true;
  }
}
