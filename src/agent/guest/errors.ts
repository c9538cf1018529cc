import { ErrorCode, type ErrorPayload } from "../protocol/messages.js";

/** A failure the agent reports to the host as an ERROR frame with `code`. */
export class OpError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export function badRequest(message: string): OpError {
  return new OpError(ErrorCode.BAD_REQUEST, message);
}

/**
 * The ERROR payload for anything a handler threw: its own code for OpErrors, the errno
 * code (ENOENT, EACCES, …) for failed system calls, INTERNAL otherwise.
 */
export function toErrorPayload(error: unknown): ErrorPayload {
  if (error instanceof OpError) {
    return { ...error.details, code: error.code, message: error.message };
  }
  const e = error as NodeJS.ErrnoException | undefined;
  if (e && typeof e === "object" && typeof e.code === "string" && typeof e.message === "string") {
    return {
      code: e.code,
      message: e.message,
      ...(e.syscall ? { syscall: e.syscall } : {}),
      ...(e.path ? { path: e.path } : {}),
    };
  }
  return { code: ErrorCode.INTERNAL, message: e instanceof Error ? e.message : String(error) };
}
