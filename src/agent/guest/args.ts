import path from "node:path";
import { badRequest } from "./errors.js";

/**
 * Checked access to a request's JSON arguments. The agent has no validation library (it
 * runs on the guest's bare Node), so these few accessors throw BAD_REQUEST on anything
 * else than what an operation expects.
 */
export class Args {
  constructor(readonly raw: Record<string, unknown>) {}

  string(key: string): string {
    const v = this.optString(key);
    if (v === undefined) throw badRequest(`"${key}" is required`);
    return v;
  }

  optString(key: string): string | undefined {
    const v = this.raw[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "string") throw badRequest(`"${key}" must be a string`);
    if (v.includes("\0")) throw badRequest(`"${key}" must not contain NUL`);
    return v;
  }

  optNumber(key: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
    const v = this.raw[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
      throw badRequest(`"${key}" must be an integer from ${min} to ${max}`);
    }
    return v;
  }

  optBoolean(key: string): boolean | undefined {
    const v = this.raw[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "boolean") throw badRequest(`"${key}" must be a boolean`);
    return v;
  }

  optStringArray(key: string): string[] | undefined {
    const v = this.raw[key];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || !v.every((s) => typeof s === "string" && !s.includes("\0"))) {
      throw badRequest(`"${key}" must be an array of strings`);
    }
    return v as string[];
  }

  optStringRecord(key: string): Record<string, string> | undefined {
    const v = this.raw[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "object" || Array.isArray(v)) throw badRequest(`"${key}" must be an object`);
    for (const [k, s] of Object.entries(v)) {
      if (typeof s !== "string" || k.includes("=") || k.includes("\0") || s.includes("\0")) {
        throw badRequest(`"${key}.${k}" must be a string (and the name without "=")`);
      }
    }
    return v as Record<string, string>;
  }

  /** A user or owner: a name, a numeric id, or "user:group". */
  optId(key: string): string | number | undefined {
    const v = this.raw[key];
    if (typeof v === "number") return this.optNumber(key, 0, 0xffffffff);
    return this.optString(key);
  }

  /** An absolute path; relative paths have no meaning to an agent without a session cwd. */
  path(key: string): string {
    const v = this.string(key);
    if (!path.isAbsolute(v)) throw badRequest(`"${key}" must be an absolute path, got "${v}"`);
    return path.normalize(v);
  }

  optPath(key: string): string | undefined {
    return this.raw[key] === undefined || this.raw[key] === null ? undefined : this.path(key);
  }

  optMode(key: string): number | undefined {
    return this.optNumber(key, 0, 0o7777);
  }

  optEnum<T extends string>(key: string, values: readonly T[]): T | undefined {
    const v = this.optString(key);
    if (v !== undefined && !values.includes(v as T)) {
      throw badRequest(`"${key}" must be one of ${values.join(", ")}`);
    }
    return v as T | undefined;
  }
}
