/**
 * Wire constants of the plinth agent protocol. docs/agent-protocol.md is the written
 * form; change both together.
 */

/**
 * Protocol version, checked at hello. A different major is refused; a newer minor only
 * adds operations and features, which the agent lists in its capabilities. 1.1 added
 * terminals (`exec` with `pty`, `exec.resize`, the `exec.pty` feature); 1.2 added
 * `identity` (a restored or forked guest's fresh RNG, clock and hostname).
 */
export const PROTOCOL_VERSION = { major: 1, minor: 2 } as const;

/**
 * Every frame starts with these two bytes. 0xF7 never occurs in UTF-8 text, so console
 * noise on the wrong port cannot look like a frame start.
 */
export const MAGIC_0 = 0xf7;
export const MAGIC_1 = 0x50;

/** magic(2) type(1) channel(1) id(4) length(4) crc32-of-the-first-12-bytes(4). */
export const HEADER_SIZE = 16;

/** Largest payload either side accepts; larger frames get an error reply and are skipped. */
export const MAX_FRAME_SIZE = 1024 * 1024;

/** Senders split stream data into frames of at most this many bytes. */
export const DATA_CHUNK_SIZE = 64 * 1024;

/**
 * Bytes a sender may put on a stream before the receiver grants more (CREDIT frames).
 * Receivers grant in steps of a quarter window, after the bytes were consumed.
 */
export const INITIAL_WINDOW = 2048 * 1024;

/** Entries per DATA frame of a directory listing. */
export const LIST_BATCH = 256;

export const FrameType = {
  /** host → agent: JSON `{op, ...args}` starting request `id`. */
  REQUEST: 0x01,
  /** agent → host: JSON result; ends request `id`. */
  RESPONSE: 0x02,
  /** agent → host: JSON `{code, message}`; ends request `id`, or is a session notice when id = 0. */
  ERROR: 0x03,
  /** both: raw bytes on `channel` of request `id`. */
  DATA: 0x04,
  /** host → agent: no more DATA on `channel` (stdin, file contents). */
  END: 0x05,
  /** both: u32 BE, more bytes the receiver accepts on `channel`. */
  CREDIT: 0x06,
  /** host → agent: optional JSON `{signal}`; signals an exec, aborts anything else. */
  CANCEL: 0x07,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export const FRAME_TYPE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(FrameType).map(([name, value]) => [value, name]),
);

export const Channel = {
  NONE: 0,
  STDIN: 1,
  STDOUT: 2,
  STDERR: 3,
  /** File contents (read and write) and directory listing batches. */
  DATA: 4,
} as const;
export type Channel = (typeof Channel)[keyof typeof Channel];

/** Request id 0 is never a request: ERROR frames with it are session notices. */
export const SESSION_ID = 0;
