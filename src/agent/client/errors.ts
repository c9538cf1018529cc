import { PlinthError, UserError } from "../../errors.js";
import type { ProtocolVersion } from "../protocol/messages.js";
import { formatProtocol } from "../protocol/version.js";

/** The agent did not answer in time. */
export class AgentTimeoutError extends PlinthError {
  constructor(
    readonly op: string,
    readonly timeoutMs: number,
  ) {
    super("AGENT_TIMEOUT", `The guest agent did not answer ${op} within ${timeoutMs} ms.`, {
      hint: "Check that the guest booted and its agent runs (the console log shows it).",
    });
  }
}

/** The agent sent something the protocol does not allow, or the client was misused. */
export class AgentProtocolError extends PlinthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("AGENT_PROTOCOL", message, options);
  }
}

/** The agent speaks another major protocol version: the image and plinth do not match. */
export class AgentVersionError extends UserError {
  constructor(
    readonly agentVersion: string | undefined,
    readonly agentProtocol: ProtocolVersion | undefined,
    readonly clientProtocol: ProtocolVersion,
  ) {
    super(
      "AGENT_VERSION_MISMATCH",
      `The guest agent${agentVersion ? ` ${agentVersion}` : ""} speaks protocol ` +
        `${agentProtocol ? formatProtocol(agentProtocol) : "(unknown)"}, this plinth speaks ` +
        `${formatProtocol(clientProtocol)}.`,
      { hint: "Rebuild the image with this plinth version (the agent is bundled at build time)." },
    );
  }
}

/**
 * The agent is too old for what was asked: it lacks a capability of a newer minor
 * protocol (e.g. terminals, `exec.pty`, in 1.1). Everything else still works with it.
 */
export class AgentUnsupportedError extends UserError {
  constructor(
    /** The capability the agent did not announce at hello. */
    readonly feature: string,
    what: string,
    readonly agentVersion: string | undefined,
    readonly agentProtocol: ProtocolVersion | undefined,
  ) {
    super(
      "AGENT_UNSUPPORTED",
      `The guest agent${agentVersion ? ` ${agentVersion}` : ""} (protocol ` +
        `${agentProtocol ? formatProtocol(agentProtocol) : "unknown"}) cannot ${what}: it ` +
        `lacks the "${feature}" capability.`,
      {
        hint: "Rebuild the image with this plinth version (the agent is bundled at build time).",
      },
    );
  }
}

/**
 * An operation failed inside the guest. `remoteCode` is the agent's code: an errno name
 * (ENOENT, EACCES, …) for failed system calls, else one of the protocol's ErrorCode.
 */
export class AgentRemoteError extends PlinthError {
  constructor(
    readonly op: string,
    readonly remoteCode: string,
    remoteMessage: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super("AGENT_REMOTE", `${op}: ${remoteMessage}`);
  }
}

/** The connection to the agent ended (or a new hello reset the session) before the reply. */
export class AgentClosedError extends PlinthError {
  constructor(
    message = "The connection to the guest agent is closed.",
    options?: { cause?: unknown },
  ) {
    super("AGENT_CLOSED", message, options);
  }
}

/**
 * exec with `reject: true`: the command exited non-zero, was killed, or timed out.
 * `exitCode` and `signal` are the guest command's, as in the exec result (like E2B's
 * CommandExitError and execa's errors).
 */
export class AgentExecError extends PlinthError {
  constructor(
    readonly command: string | string[],
    /** The command's exit code; null when a signal ended it. */
    readonly exitCode: number | null,
    /** The signal that ended it (SIGKILL after a timeout), else null. */
    readonly signal: string | null,
    readonly timedOut: boolean,
    readonly stderrTail: string,
  ) {
    const what = Array.isArray(command) ? command.slice(0, 3).join(" ") : command.slice(0, 80);
    const how = timedOut
      ? "timed out"
      : signal
        ? `was killed by ${signal}`
        : `exited with ${exitCode}`;
    super("EXEC_FAILED", `\`${what}\` ${how} in the guest`, {
      hint: stderrTail ? `Its last output:\n${stderrTail}` : undefined,
    });
  }
}
