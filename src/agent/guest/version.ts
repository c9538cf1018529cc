/** Replaced by scripts/bundle-agent.mjs with plinth's version; "dev" when run from source. */
declare const __PLINTH_AGENT_VERSION__: string | undefined;

export const AGENT_VERSION: string =
  typeof __PLINTH_AGENT_VERSION__ === "string" ? __PLINTH_AGENT_VERSION__ : "dev";

export const AGENT_NAME = "plinth-agent";
