import { PROTOCOL_VERSION } from "./constants.js";
import type { ProtocolVersion } from "./messages.js";

export function formatProtocol(v: ProtocolVersion): string {
  return `${v.major}.${v.minor}`;
}

export function isProtocolVersion(v: unknown): v is ProtocolVersion {
  const o = v as ProtocolVersion | null;
  return (
    typeof o === "object" &&
    o !== null &&
    Number.isInteger(o.major) &&
    Number.isInteger(o.minor) &&
    o.major >= 0 &&
    o.minor >= 0
  );
}

/** Why `remote` cannot talk to this side, or undefined when it can (same major). */
export function protocolMismatch(
  remote: ProtocolVersion,
  local: ProtocolVersion = PROTOCOL_VERSION,
): string | undefined {
  if (remote.major === local.major) return undefined;
  return `protocol ${formatProtocol(remote)} is not compatible with ${formatProtocol(local)} (major versions differ)`;
}
