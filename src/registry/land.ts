import { existsSync, readdirSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { ChecksumError, UserError } from "../errors.js";
import {
  ImageMetadataSchema,
  METADATA,
  SUMS,
  type Artifact,
  type ImageMetadata,
} from "../image/metadata.js";
import { imagesDir } from "../paths.js";
import { slotDir } from "../store/images.js";
import { withStoreLock } from "../store/lock.js";
import { sha256File } from "../util/hash.js";
import { inside } from "../util/safe-path.js";

/** Where a pulled image came from: what `plinth run REF` looks for before pulling again. */
export const ORIGIN = "origin.json";
const OriginSchema = z.object({
  source: z.string(),
  /** The manifest digest, for a registry pull. */
  digest: z.string().optional(),
  /** The digest the reference pinned, when that was an index's (several platforms). */
  pinned: z.string().optional(),
  pulled: z.string(),
});
export type Origin = z.infer<typeof OriginSchema>;

export function parseMetadata(bytes: Buffer, from: string): ImageMetadata {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new UserError("BAD_METADATA", `${from} is not JSON.`);
  }
  const parsed = ImageMetadataSchema.safeParse(json);
  if (!parsed.success)
    throw new UserError(
      "BAD_METADATA",
      `${from} is not a plinth image's metadata.json: ${parsed.error.issues[0]?.message}.`,
      {
        hint: "It may come from a newer plinth; upgrade plinth, or pull an image built by this version.",
      },
    );
  return parsed.data;
}

/** The store slot an image's metadata names, and whether it is there already. */
export function slotFor(meta: ImageMetadata): { dir: string; present: boolean } {
  const dir = slotDir(meta.name, meta.version, meta.buildHash);
  return { dir, present: existsSync(path.join(dir, METADATA)) };
}

/**
 * Land a fetched image in the store: each artifact is produced into a hidden temp dir,
 * re-hashed against metadata.json, and only then is the whole dir renamed into its slot
 * under the store lock. Interrupted, the store is as it was (a killed pull's temp dir
 * is removed by the next pull).
 */
export async function landImage(
  metaBytes: Buffer,
  meta: ImageMetadata,
  produce: (artifact: Artifact, dest: string) => Promise<void>,
  origin: Omit<Origin, "pulled">,
): Promise<string> {
  const { dir: slot, present } = slotFor(meta);
  if (present) return slot;
  await removeStaleTemps();
  await mkdir(imagesDir(), { recursive: true });
  const tmp = await mkdtemp(path.join(imagesDir(), `${TEMP}${process.pid}-`));
  try {
    await chmod(tmp, 0o755); // mkdtemp's 0700 would become the image directory's mode
    for (const a of meta.artifacts) {
      const dest = inside(tmp, a.name);
      await produce(a, dest);
      const actual = await sha256File(dest);
      if (actual !== a.sha256) throw new ChecksumError(a.name, a.sha256, actual);
      const { size } = await stat(dest);
      if (size !== a.size)
        throw new ChecksumError(`${a.name} (size ${size}, expected ${a.size})`, a.sha256, actual);
    }
    await writeFile(path.join(tmp, METADATA), metaBytes);
    const sums = [
      ...meta.artifacts.map((a) => `${a.sha256}  ${a.name}`),
      `${await sha256File(path.join(tmp, METADATA))}  ${METADATA}`,
    ];
    await writeFile(path.join(tmp, SUMS), sums.join("\n") + "\n");
    await writeFile(
      path.join(tmp, ORIGIN),
      JSON.stringify({ ...origin, pulled: new Date().toISOString() }, null, 2) + "\n",
    );
    await withStoreLock(async () => {
      if (existsSync(path.join(slot, METADATA))) return; // another pull landed it meanwhile
      if (existsSync(slot))
        throw new UserError(
          "SLOT_IN_USE",
          `${slot} exists but holds no image (files plinth did not write are left there).`,
          { hint: "Move those files away, then pull again." },
        );
      await mkdir(path.dirname(slot), { recursive: true });
      await rename(tmp, slot);
    });
    return slot;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

export async function readOrigin(imageDir: string): Promise<Origin | undefined> {
  try {
    return OriginSchema.parse(JSON.parse(await readFile(path.join(imageDir, ORIGIN), "utf8")));
  } catch {
    return undefined;
  }
}

const TEMP = ".pull-";

/** Temp dirs of pulls whose process is gone (killed half-way): theirs, so removed. */
async function removeStaleTemps(): Promise<void> {
  if (!existsSync(imagesDir())) return;
  for (const e of readdirSync(imagesDir())) {
    const pid = Number(new RegExp(`^\\${TEMP}(\\d+)-`).exec(e)?.[1]);
    if (!pid || alive(pid)) continue;
    await rm(inside(imagesDir(), e), { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: alive, another user's. Only "no such process" makes a temp dir an orphan.
    return (e as NodeJS.ErrnoException).code !== "ESRCH";
  }
}
