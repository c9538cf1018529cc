import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { UserError } from "../errors.js";
import { plinthHome } from "../paths.js";

export interface Credentials {
  username: string;
  password: string;
}

/** A `WWW-Authenticate` challenge: the scheme and its parameters (realm, service, scope). */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*(\w+)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  // Values are quoted strings (which may hold commas, as scopes do) or bare tokens.
  for (const p of m[2]!.matchAll(/(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g))
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : p[3]!;
  return { scheme: m[1]!.toLowerCase(), params };
}

// Docker's config.json and containers' auth.json share this shape.
const AuthFile = z.object({
  auths: z
    .record(
      z.string(),
      z.object({
        auth: z.string().optional(),
        username: z.string().optional(),
        password: z.string().optional(),
      }),
    )
    .optional(),
});

/** plinth's own credential file, written by `plinth login` (docker's format, mode 0600). */
export function plinthAuthFile(): string {
  return path.join(plinthHome(), "auth.json");
}

/** Where credentials are looked for, first match wins: plinth's, docker's, then containers'. */
export function authFiles(): string[] {
  const docker = process.env.DOCKER_CONFIG ?? path.join(os.homedir(), ".docker");
  const runtime = process.env.XDG_RUNTIME_DIR;
  return [
    plinthAuthFile(),
    path.join(docker, "config.json"),
    ...(process.env.REGISTRY_AUTH_FILE ? [process.env.REGISTRY_AUTH_FILE] : []),
    ...(runtime ? [path.join(runtime, "containers", "auth.json")] : []),
  ];
}

function readAuths(file: string): z.infer<typeof AuthFile>["auths"] {
  if (!existsSync(file)) return undefined;
  try {
    return AuthFile.parse(JSON.parse(readFileSync(file, "utf8"))).auths;
  } catch {
    return undefined; // someone else's file in a shape we do not know: not ours to judge
  }
}

/** Stored credentials for a registry host, if any file has them. */
export function findCredentials(registry: string): Credentials | undefined {
  const keys = [registry, `https://${registry}`, `http://${registry}`, `https://${registry}/v1/`];
  for (const file of authFiles()) {
    const auths = readAuths(file);
    const entry = keys.map((k) => auths?.[k]).find(Boolean);
    if (!entry) continue;
    if (entry.username && entry.password)
      return { username: entry.username, password: entry.password };
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      if (colon > 0)
        return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    }
  }
  return undefined;
}

/** Save credentials for `plinth login` (atomically; readable by the owner only). */
export async function saveCredentials(registry: string, creds: Credentials): Promise<string> {
  const file = plinthAuthFile();
  let current: { auths?: Record<string, unknown> } = {};
  if (existsSync(file)) {
    try {
      current = JSON.parse(await readFile(file, "utf8")) as typeof current;
    } catch {
      throw new UserError("BAD_AUTH_FILE", `${file} is not JSON: plinth will not overwrite it.`, {
        hint: "Fix or remove it, then log in again.",
      });
    }
  }
  const auth = Buffer.from(`${creds.username}:${creds.password}`).toString("base64");
  const next = { ...current, auths: { ...current.auths, [registry]: { auth } } };
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(next, null, 2) + "\n", { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
  return file;
}

export function basicHeader(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString("base64")}`;
}
