/**
 * JSON payloads of REQUEST, RESPONSE and ERROR frames, shared by the agent and the
 * client. Field names are the wire names.
 */

export interface ProtocolVersion {
  major: number;
  minor: number;
}

/** Operations of protocol 1.2; the agent lists the ones it serves in `capabilities`. */
export const OPS = [
  "hello",
  "ping",
  "info",
  "exec",
  "exec.resize",
  "file.read",
  "file.write",
  "file.list",
  "file.stat",
  "file.mkdir",
  "file.remove",
  "file.rename",
  "shutdown",
  "identity",
] as const;
export type Op = (typeof OPS)[number];

/**
 * Capabilities that are not operations: features of an operation, announced in hello
 * next to the operations. A client checks one before it uses the feature.
 */
export const FEATURES = {
  /** `exec` takes `pty` (protocol 1.1). */
  EXEC_PTY: "exec.pty",
} as const;

/** Codes of ERROR frames the agent produces itself; failed system calls use their errno code. */
export const ErrorCode = {
  /** A frame of an unknown type, or of a type the agent never receives. */
  BAD_FRAME: "BAD_FRAME",
  /** A payload that is not the JSON the operation expects. */
  BAD_REQUEST: "BAD_REQUEST",
  FRAME_TOO_LARGE: "FRAME_TOO_LARGE",
  NO_HELLO: "NO_HELLO",
  PROTOCOL_MISMATCH: "PROTOCOL_MISMATCH",
  UNKNOWN_OP: "UNKNOWN_OP",
  /** exec.resize named a request that is not a running exec of this session. */
  NOT_RUNNING: "NOT_RUNNING",
  /** A REQUEST reused the id of a request still running (session notice). */
  DUPLICATE_ID: "DUPLICATE_ID",
  /** The host sent more stream bytes than it had credit for. */
  FLOW_CONTROL: "FLOW_CONTROL",
  /** Garbage was skipped before a valid frame (session notice with `skipped`). */
  RESYNC: "RESYNC",
  CANCELLED: "CANCELLED",
  /** A new hello, or the end of the connection, dropped the request. */
  SESSION_RESET: "SESSION_RESET",
  INTERNAL: "INTERNAL",
  UNKNOWN_USER: "UNKNOWN_USER",
  UNKNOWN_GROUP: "UNKNOWN_GROUP",
} as const;

export interface ErrorPayload {
  code: string;
  message: string;
  /** Echo of the hello nonce, on errors answering a hello. */
  nonce?: string;
  [key: string]: unknown;
}

export interface HelloRequest {
  protocol: ProtocolVersion;
  /** A fresh random string; the reply echoes it, so replies left over from an earlier session are told apart. */
  nonce: string;
  client?: string;
  /** Ask the agent to send zero padding before its reply (see "Resync" in the docs). */
  pad?: boolean;
}

export interface HelloResponse {
  agent: string;
  version: string;
  protocol: ProtocolVersion;
  capabilities: string[];
  nonce: string;
  pid: number;
  /** The agent runs as PID 1 (it cannot reap orphaned processes then; see docs). */
  pid1: boolean;
  maxFrameSize: number;
  window: number;
  /** Sessions this agent started since it was started, this one included. */
  session: number;
}

export interface IdentityRequest {
  hostname?: string;
  entropy?: Buffer;
  timeMs?: number;
}

export interface IdentityResponse {
  hostname?: string;
  reseeded?: boolean;
  timeMs?: number;
}

export interface PingResponse {
  /** Agent's uptime in ms (monotonic), useful to see restarts. */
  uptimeMs: number;
}

export interface AgentInfo {
  agent: {
    version: string;
    protocol: ProtocolVersion;
    /**
     * What runs the agent: the Go version of the Go agent (`go1.19.8`). A 1.0 agent sent
     * `node` (its Node.js version) instead; the client reports that as `node v18.19.0`.
     */
    runtime: string;
    pid: number;
    pid1: boolean;
    uptimeS: number;
    /** Requests running over all connections, this info not counted (absent from 1.0 agents). */
    requests?: number;
    /** Connections the agent serves (absent from 1.0 agents). */
    connections?: number;
    /** Processes reaped that the agent did not start: orphans, as PID 1 (absent from 1.0 agents). */
    orphansReaped?: number;
  };
  hostname: string;
  kernel: { release: string; version: string; arch: string };
  uptimeS: number;
  cpus: number;
  memory: { totalBytes: number; freeBytes: number; availableBytes: number };
  loadavg: number[];
  /** /etc/os-release as key → value (quotes removed); empty when missing. */
  osRelease: Record<string, string>;
  /** Zombie children of the agent; grows when the agent is PID 1 without a reaper. */
  zombies: number;
}

export interface ExecRequest {
  /** Program and arguments, run without a shell. Exactly one of argv and command. */
  argv?: string[];
  /** A shell command line, run as `<shell> -c <command>`. */
  command?: string;
  /** Shell for `command`; default /bin/sh. */
  shell?: string;
  env?: Record<string, string>;
  /** Start from an empty environment instead of the agent's default one. */
  clearEnv?: boolean;
  cwd?: string;
  /** User name or uid to run as. */
  user?: string | number;
  /** The host will stream stdin (DATA on channel 1, then END); otherwise stdin is /dev/null. */
  stdin?: boolean;
  /** Kill the process group with SIGKILL after this long. */
  timeoutMs?: number;
  /**
   * Run on a new pseudo-terminal (protocol 1.1, capability `exec.pty`): its output comes
   * on stdout only, DATA on stdin goes to the terminal. `true` is 24 rows × 80 columns.
   */
  pty?: boolean | PtySize;
}

/** A terminal's window size; each 1–65535 (defaults 24 rows, 80 columns). */
export interface PtySize {
  rows?: number;
  cols?: number;
}

/** `exec.resize`: the new window size of the pty of running exec `id` (same session). */
export interface ExecResizeRequest {
  id: number;
  rows: number;
  cols: number;
}

export interface ExecResponse {
  pid: number;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  durationMs: number;
}

export type FileType = "file" | "dir" | "symlink" | "other";

export interface FileStat {
  type: FileType;
  size: number;
  /** Permission bits (and setuid/setgid/sticky), e.g. 0o644. */
  mode: number;
  uid: number;
  gid: number;
  mtimeMs: number;
  atimeMs: number;
  ctimeMs: number;
  /** Target of a symlink (only when stat did not follow it). */
  target?: string;
}

export interface DirEntry {
  name: string;
  type: FileType;
  size: number;
  mode: number;
  mtimeMs: number;
}

export interface FileReadRequest {
  path: string;
  offset?: number;
  length?: number;
}

export interface FileWriteRequest {
  path: string;
  mode?: number;
  /** "user", "user:group", "uid:gid" or a uid. */
  owner?: string | number;
  /** Create missing parent directories. */
  mkdirs?: boolean;
}

export interface FileWriteResponse {
  size: number;
}

export interface ShutdownRequest {
  action?: "poweroff" | "reboot";
}
