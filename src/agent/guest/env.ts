/** What the agent's operations need from their surroundings; injectable for tests. */
export interface AgentEnv {
  version: string;
  /** performance.now() when the agent started. */
  startedAt: number;
  maxFrameSize: number;
  window: number;
  passwdFile: string;
  groupFile: string;
  osReleaseFiles: string[];
  /** Environment every exec starts from (unless it asks for a clear one). */
  baseEnv: Record<string, string>;
  /** Called after the shutdown reply went out. */
  powerOff: (action: "poweroff" | "reboot") => void | Promise<void>;
  /** Diagnostics; the agent's main writes them to stderr. */
  log: (message: string) => void;
}

export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The agent's own environment minus its settings, with a PATH even under a bare init. */
export function childBaseEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined || key.startsWith("PLINTH_AGENT_")) continue;
    out[key] = value;
  }
  out.PATH ??= DEFAULT_PATH;
  return out;
}
