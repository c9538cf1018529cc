import { createHash } from "node:crypto";
import type { z } from "zod";
import { UserError } from "../errors.js";
import { IndexSchema } from "./artifact.js";
import { MEDIA, type Descriptor } from "./client.js";

export const sha256Of = (b: Buffer): string =>
  `sha256:${createHash("sha256").update(b).digest("hex")}`;

export const isIndex = (mediaType: string | undefined): boolean =>
  mediaType === MEDIA.index || mediaType === MEDIA.dockerList;

/** JSON bytes checked against `schema`, or one sentence saying that `what` is not valid. */
export function parseJson<T>(bytes: Buffer, schema: z.ZodType<T>, what: string): T {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch {
    json = undefined;
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new UserError("BAD_MANIFEST", `${what} is not valid.`);
  return parsed.data;
}

/** The Go/OCI name of this host's architecture. */
export function hostArch(): string {
  return process.arch === "x64" ? "amd64" : process.arch;
}

/** `bytes` are the manifest `want` names, or one sentence saying they are not. */
export function checkDigest(bytes: Buffer, want: string, what: string): void {
  const got = sha256Of(bytes);
  if (got !== want)
    throw new UserError("CHECKSUM_MISMATCH", `${what}: expected digest ${want}, got ${got}.`);
}

/**
 * The entry of an index (several platforms under one name) for `arch` on Linux. With
 * `strict`, an index without it is refused rather than answered with its first entry.
 */
export function platformEntry(
  bytes: Buffer,
  arch: string,
  what: string,
  strict: boolean,
): Descriptor {
  const index = parseJson(bytes, IndexSchema, `${what}'s index`);
  const linux = index.manifests.filter((m) => !m.platform || m.platform.os === "linux");
  const entry =
    linux.find((m) => m.platform?.architecture === arch) ?? (strict ? undefined : linux[0]);
  if (!entry) {
    const have = index.manifests.map((m) => m.platform?.architecture ?? "?").join(", ");
    throw new UserError(
      "NOT_FOUND",
      `${what} has no linux/${arch} image (it has: ${have || "none"}).`,
      {
        hint: `Use an image built for ${arch}, or set \`arch:\` to one the index has.`,
      },
    );
  }
  return entry;
}
