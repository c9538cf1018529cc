import { readFileSync } from "node:fs";

/** plinth's own version, from package.json. */
export const PLINTH_VERSION: string = (
  JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    version: string;
  }
).version;
