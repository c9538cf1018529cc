import type { Args } from "../args.js";
import type { AgentEnv } from "../env.js";
import type { Request } from "../request.js";

/** Reply first, then power off: once the power-off starts, no reply could get out. */
export function shutdown(request: Request, args: Args, env: AgentEnv): Record<string, string> {
  const action = args.optEnum("action", ["poweroff", "reboot"] as const) ?? "poweroff";
  request.afterResponse = () => {
    Promise.resolve()
      .then(() => env.powerOff(action))
      .catch((error: unknown) => env.log(`${action} failed: ${(error as Error).message}`));
  };
  return { action };
}
