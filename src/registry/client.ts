import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { fetch, type RequestInit, type Response } from "undici";
import { CancelledError, PlinthError, UserError } from "../errors.js";
import { resumableDownload } from "../util/download.js";
import { basicHeader, findCredentials, parseChallenge, type Credentials } from "./auth.js";
import { dispatcher, isInsecure } from "./transport.js";

export interface ClientOptions {
  /** Registries the command named with `--insecure` (plain HTTP). */
  insecure?: string[];
  credentials?: Credentials;
  signal?: AbortSignal;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  artifactType?: string;
  platform?: { architecture: string; os: string; variant?: string };
}

export type BlobUpload = "exists" | "mounted" | "uploaded";

/** Blobs above this go up in chunks (PATCH), so no single request carries gigabytes. */
const CHUNK = 64 * 1024 * 1024;

/**
 * A client of one registry, speaking the OCI distribution spec: anonymous, basic and
 * bearer-token auth (answering `WWW-Authenticate` challenges), blob existence, monolithic
 * and chunked uploads, cross-repository mounts, manifests, tags and resumable blob reads.
 */
export class RegistryClient {
  readonly base: string;
  private authorization?: string;
  private challenge?: { scheme: string; params: Record<string, string> };
  private readonly tokens = new Map<string, string>();
  private readonly creds?: Credentials;

  constructor(
    readonly registry: string,
    private readonly o: ClientOptions = {},
  ) {
    this.base = `${isInsecure(registry, o.insecure) ? "http" : "https"}://${registry}`;
    this.creds = o.credentials ?? findCredentials(registry);
  }

  /** `GET /v2/`: is this a registry, and can we authenticate to it? */
  async ping(scope?: string): Promise<void> {
    const res = await this.send("GET", "/v2/", { scope });
    await expect(res, [200], "GET /v2/");
  }

  async hasBlob(repo: string, digest: string): Promise<boolean> {
    const res = await this.send("HEAD", `/v2/${repo}/blobs/${digest}`, { scope: pull(repo) });
    if (res.status === 404) return false;
    await expect(res, [200], `HEAD blob ${digest}`);
    return true;
  }

  /**
   * Put a blob from `file` unless the repository has it: mounted from one of `mountFrom`
   * (repositories on this registry known to hold it) when the registry allows, else uploaded.
   */
  async pushBlob(
    repo: string,
    file: string,
    d: { digest: string; size: number },
    opts: { mountFrom?: string[]; onBytes?: (n: number) => void } = {},
  ): Promise<BlobUpload> {
    if (await this.hasBlob(repo, d.digest)) return "exists";
    const scope = push(repo);
    for (const from of opts.mountFrom ?? []) {
      if (from === repo) continue;
      const q = `?mount=${encodeURIComponent(d.digest)}&from=${encodeURIComponent(from)}`;
      const res = await this.send("POST", `/v2/${repo}/blobs/uploads/${q}`, {
        scope: `${scope} repository:${from}:pull`,
      });
      if (res.status === 201) return drain(res, "mounted");
      if (res.status === 202) {
        // Not mounted: the registry opened an upload session instead; use it.
        await this.upload(repo, location(res, this.base), file, d, opts.onBytes);
        return "uploaded";
      }
      await expect(res, [201, 202], `mount ${d.digest}`);
    }
    const res = await this.send("POST", `/v2/${repo}/blobs/uploads/`, { scope });
    await expect(res, [202], "start blob upload");
    await this.upload(repo, location(res, this.base), file, d, opts.onBytes);
    return "uploaded";
  }

  private async upload(
    repo: string,
    url: string,
    file: string,
    d: { digest: string; size: number },
    onBytes?: (n: number) => void,
  ): Promise<void> {
    const scope = push(repo);
    let at = url;
    if (d.size > CHUNK) {
      const fh = await open(file);
      try {
        for (let start = 0; start < d.size; start += CHUNK) {
          const len = Math.min(CHUNK, d.size - start);
          const buf = Buffer.alloc(len);
          await fh.read(buf, 0, len, start);
          const res = await this.send("PATCH", at, {
            scope,
            body: buf,
            headers: {
              "Content-Type": "application/octet-stream",
              "Content-Range": `${start}-${start + len - 1}`,
              "Content-Length": String(len),
            },
          });
          await expect(res, [202], "upload chunk");
          at = location(res, this.base);
          onBytes?.(start + len);
        }
      } finally {
        await fh.close();
      }
      const res = await this.send("PUT", withDigest(at, d.digest), {
        scope,
        headers: { "Content-Length": "0" },
      });
      await expect(res, [201], "finish blob upload");
      return;
    }
    const res = await this.send("PUT", withDigest(at, d.digest), {
      scope,
      body: createReadStream(file),
      headers: { "Content-Type": "application/octet-stream", "Content-Length": String(d.size) },
    });
    await expect(res, [201], "upload blob");
    onBytes?.(d.size);
  }

  async putManifest(
    repo: string,
    reference: string,
    body: Buffer,
    mediaType: string,
  ): Promise<string> {
    const res = await this.send("PUT", `/v2/${repo}/manifests/${reference}`, {
      scope: push(repo),
      body,
      headers: { "Content-Type": mediaType },
    });
    await expect(res, [201], `PUT manifest ${reference}`);
    return res.headers.get("docker-content-digest") ?? "";
  }

  async getManifest(
    repo: string,
    reference: string,
  ): Promise<{ bytes: Buffer; mediaType: string }> {
    const res = await this.send("GET", `/v2/${repo}/manifests/${reference}`, {
      scope: pull(repo),
      headers: { Accept: MANIFEST_TYPES.join(", ") },
    });
    if (res.status === 404) {
      await drain(res, undefined);
      throw new UserError("NOT_FOUND", `${this.registry}/${repo} has no manifest "${reference}".`, {
        hint: `See its tags with \`plinth tags ${this.registry}/${repo}\`.`,
      });
    }
    await expect(res, [200], `GET manifest ${reference}`);
    return {
      bytes: Buffer.from(await res.arrayBuffer()),
      mediaType: (res.headers.get("content-type") ?? "").split(";")[0]!.trim(),
    };
  }

  async getBlob(repo: string, digest: string): Promise<Buffer> {
    const res = await this.send("GET", `/v2/${repo}/blobs/${digest}`, { scope: pull(repo) });
    await expect(res, [200], `GET blob ${digest}`);
    return Buffer.from(await res.arrayBuffer());
  }

  /** Every tag of `repo`, following the `Link` header's pages. */
  async listTags(repo: string): Promise<string[]> {
    const tags: string[] = [];
    let next: string | undefined = `/v2/${repo}/tags/list?n=1000`;
    while (next) {
      const res = await this.send("GET", next, { scope: pull(repo) });
      if (res.status === 404) return drain(res, []);
      await expect(res, [200], "list tags");
      const body = (await res.json()) as { tags?: string[] | null };
      tags.push(...(body.tags ?? []));
      next = /<([^>]+)>;\s*rel="next"/.exec(res.headers.get("link") ?? "")?.[1];
    }
    return tags;
  }

  /** A blob into `part`, resuming what an earlier pull left there, verified by digest. */
  async fetchBlob(
    repo: string,
    d: Descriptor,
    part: string,
    onBytes?: (n: number) => void,
  ): Promise<{ resumedFrom: number }> {
    return resumableDownload(
      (offset, signal) =>
        this.send("GET", `/v2/${repo}/blobs/${d.digest}`, {
          scope: pull(repo),
          signal,
          headers: offset > 0 ? { Range: `bytes=${offset}-` } : {},
        }),
      {
        what: `blob ${d.digest} of ${this.registry}/${repo}`,
        part,
        sha256: d.digest.replace(/^sha256:/, ""),
        size: d.size,
        signal: this.o.signal,
        onBytes,
      },
    );
  }

  /**
   * One request, authenticated: on a 401 the challenge is answered (basic credentials, or
   * a bearer token for `scope` from the challenge's realm) and the request sent again.
   * Streamed bodies cannot be sent twice, so auth is settled with a ping before them.
   */
  private async send(
    method: string,
    pathOrUrl: string,
    r: {
      scope?: string;
      body?: RequestInit["body"];
      headers?: Record<string, string>;
      signal?: AbortSignal;
    },
  ): Promise<Response> {
    const url = pathOrUrl.startsWith("http") ? pathOrUrl : this.base + pathOrUrl;
    const streamed = r.body !== undefined && !Buffer.isBuffer(r.body);
    if (streamed && !this.authorization && this.challenge === undefined) await this.ping(r.scope);
    for (let attempt = 0; ; attempt++) {
      const auth = await this.authFor(r.scope);
      let res: Response;
      try {
        res = await fetch(url, {
          method,
          body: r.body,
          headers: { ...r.headers, ...(auth ? { Authorization: auth } : {}) },
          signal: r.signal ?? this.o.signal,
          dispatcher: dispatcher(),
          redirect: "follow",
          ...(streamed ? { duplex: "half" } : {}),
        });
      } catch (error) {
        if ((r.signal ?? this.o.signal)?.aborted) throw new CancelledError(`${method} ${url}`);
        throw unreachable(this.registry, this.base, error);
      }
      if (res.status !== 401 || attempt > 0 || streamed) {
        if (res.status === 401) await this.refused(res, !!auth);
        return res;
      }
      const header = res.headers.get("www-authenticate");
      await drain(res, undefined);
      const challenge = header ? parseChallenge(header) : undefined;
      if (!challenge)
        throw new PlinthError(
          "REGISTRY_ERROR",
          `${this.registry} answered 401 without a challenge.`,
        );
      this.challenge = challenge;
      if (auth && challenge.scheme === "basic") await this.refused(undefined, true);
      if (challenge.scheme === "bearer" && r.scope) this.tokens.delete(r.scope);
      if (challenge.scheme === "bearer" && challenge.params.scope && !r.scope)
        r = { ...r, scope: challenge.params.scope };
    }
  }

  private async authFor(scope: string | undefined): Promise<string | undefined> {
    const c = this.challenge;
    if (!c) return undefined;
    if (c.scheme === "basic") {
      if (!this.creds) throw this.needsLogin();
      return basicHeader(this.creds);
    }
    if (c.scheme !== "bearer")
      throw new UserError(
        "UNSUPPORTED",
        `${this.registry} asks for "${c.scheme}" auth, which plinth does not speak.`,
      );
    const key = scope ?? "";
    let token = this.tokens.get(key);
    if (!token) {
      token = await this.token(c.params, scope);
      this.tokens.set(key, token);
    }
    return `Bearer ${token}`;
  }

  /** The bearer-token flow: GET the challenge's realm for this service and scope. */
  private async token(p: Record<string, string>, scope: string | undefined): Promise<string> {
    if (!p.realm)
      throw new PlinthError(
        "REGISTRY_ERROR",
        `${this.registry}'s bearer challenge names no realm.`,
      );
    let url: URL;
    try {
      url = new URL(p.realm);
    } catch {
      throw new UserError(
        "REGISTRY_ERROR",
        `${this.registry}'s token realm "${p.realm}" is not a URL.`,
      );
    }
    // Credentials go to a token server only over TLS, unless the registry is plain HTTP itself.
    if (this.creds && url.protocol !== "https:" && !this.base.startsWith("http:"))
      throw new UserError(
        "INSECURE_REALM",
        `${this.registry} sends its token requests to ${url.origin}, which is not HTTPS: credentials are not sent there.`,
        { hint: "Ask the registry's operator to serve its token endpoint over HTTPS." },
      );
    if (p.service) url.searchParams.set("service", p.service);
    for (const s of (scope ?? p.scope ?? "").split(" ").filter(Boolean))
      url.searchParams.append("scope", s);
    let res: Response;
    try {
      res = await fetch(url, {
        headers: this.creds ? { Authorization: basicHeader(this.creds) } : {},
        signal: this.o.signal,
        dispatcher: dispatcher(),
      });
    } catch (error) {
      throw unreachable(url.host, url.origin, error);
    }
    if (res.status === 401 || res.status === 403) await this.refused(res, !!this.creds);
    await expect(res, [200], "GET token");
    const body = (await res.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token)
      throw new PlinthError(
        "REGISTRY_ERROR",
        `The token server of ${this.registry} sent no token.`,
      );
    return token;
  }

  private async refused(res: Response | undefined, hadCredentials: boolean): Promise<never> {
    if (res) await drain(res, undefined);
    if (!hadCredentials || !this.creds) throw this.needsLogin();
    throw new UserError(
      "AUTH_FAILED",
      `${this.registry} refused the credentials of user "${this.creds.username}".`,
      { hint: `Log in again with \`plinth login ${this.registry}\` and the right password.` },
    );
  }

  private needsLogin(): UserError {
    return new UserError(
      "AUTH_REQUIRED",
      `${this.registry} requires credentials, and none are stored for it.`,
      {
        hint: `Log in with \`plinth login ${this.registry}\` (docker's config.json is read too).`,
      },
    );
  }
}

export const MEDIA = {
  manifest: "application/vnd.oci.image.manifest.v1+json",
  index: "application/vnd.oci.image.index.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
} as const;
const MANIFEST_TYPES = [MEDIA.manifest, MEDIA.index, MEDIA.dockerManifest, MEDIA.dockerList];

const pull = (repo: string) => `repository:${repo}:pull`;
const push = (repo: string) => `repository:${repo}:pull,push`;

function withDigest(url: string, digest: string): string {
  return `${url}${url.includes("?") ? "&" : "?"}digest=${encodeURIComponent(digest)}`;
}

function location(res: Response, base: string): string {
  const loc = res.headers.get("location");
  if (!loc)
    throw new PlinthError("REGISTRY_ERROR", "The registry opened an upload without a Location.");
  return new URL(loc, base).toString();
}

async function drain<T>(res: Response, value: T): Promise<T> {
  await res.body?.cancel().catch(() => undefined);
  return value;
}

/** A response with an unexpected status as one error, with the registry's own error codes. */
async function expect(res: Response, ok: number[], what: string): Promise<void> {
  if (ok.includes(res.status)) return;
  const text = await res.text().catch(() => "");
  let detail = text.slice(0, 200);
  try {
    const errors = (JSON.parse(text) as { errors?: { code: string; message: string }[] }).errors;
    if (errors?.length) detail = errors.map((e) => `${e.code}: ${e.message}`).join("; ");
  } catch {
    // not JSON: the text's start is the detail
  }
  const message = `${what} answered ${res.status}${detail ? ` (${detail})` : ""}.`;
  // Denied or unknown: the user's reference or rights, one sentence and exit 2.
  if ([401, 403, 404].includes(res.status)) throw new UserError("REGISTRY_REFUSED", message);
  throw new PlinthError("REGISTRY_ERROR", message);
}

function unreachable(host: string, base: string, error: unknown): UserError {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const why = cause?.code ?? cause?.message ?? String(error);
  return new UserError("REGISTRY_UNREACHABLE", `Cannot reach ${base} (${why}).`, {
    hint: base.startsWith("https")
      ? `Check the address; for a registry that speaks plain HTTP pass --insecure (or list ${host} in PLINTH_INSECURE_REGISTRIES).`
      : "Check the address and that the registry is running.",
    cause: error,
  });
}
