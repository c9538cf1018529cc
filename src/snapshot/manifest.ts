import { existsSync } from "node:fs";
import { stat } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { UserError } from "../errors.js";
import { sha256File } from "../util/hash.js";
import { readStateFile } from "../util/state-file.js";

/** The files of a snapshot dir besides snapshot.json: memory + device state, frozen disk. */
export const STATE = "state";
export const DISK = "disk.qcow2";
export const MANIFEST = "snapshot.json";
export const SNAPSHOT_FILES = [STATE, DISK] as const;

const FileSum = z.object({
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});

/** snapshot.json: what a restore must match, and the sums that prove the files whole. */
export const SnapshotManifestSchema = z.object({
  schemaVersion: z.literal(1),
  name: z.string(),
  created: z.string(),
  /** The VM it was taken from. */
  vm: z.string(),
  base: z.object({
    name: z.string(),
    version: z.string(),
    buildHash: z.string(),
    arch: z.string(),
    artifacts: z.array(
      z.object({
        name: z.string(),
        kind: z.string(),
        size: z.number().int().optional(),
        sha256: z.string(),
      }),
    ),
  }),
  machine: z.object({
    type: z.string(),
    accel: z.enum(["kvm", "tcg"]),
    memMiB: z.number().int().positive(),
    cpus: z.number().int().positive(),
    cmdline: z.string(),
    tscKhz: z.number().int().positive().optional(),
    net: z.boolean(),
    extraPorts: z.array(z.string()),
  }),
  qemu: z.object({ version: z.string() }),
  agent: z.object({
    version: z.string().optional(),
    protocol: z.object({ major: z.number().int(), minor: z.number().int() }),
  }),
  files: z.object({ [STATE]: FileSum, [DISK]: FileSum }),
});
export type SnapshotManifest = z.infer<typeof SnapshotManifestSchema>;

export async function fileSum(file: string): Promise<z.infer<typeof FileSum>> {
  return { size: (await stat(file)).size, sha256: await sha256File(file) };
}

/**
 * snapshot.json parsed, and every file it lists checked for size and sha256: a corrupt or
 * truncated snapshot is refused here, before QEMU is started on it.
 */
export async function verifySnapshot(dir: string): Promise<SnapshotManifest> {
  const file = path.join(dir, MANIFEST);
  if (!existsSync(file))
    throw new UserError("NOT_A_SNAPSHOT", `${dir} is not a snapshot (it has no ${MANIFEST}).`, {
      hint: "Pass a directory made by `plinth snapshot`, or the name of one in the store.",
    });
  const s = readStateFile(file, SnapshotManifestSchema, `snapshot ${dir}`, {
    hint: "The snapshot is damaged: take it again, or import its package again.",
  });
  for (const name of SNAPSHOT_FILES) {
    const f = path.join(dir, name);
    const want = s.files[name];
    const got = existsSync(f) ? await fileSum(f) : undefined;
    if (!got || got.size !== want.size || got.sha256 !== want.sha256)
      throw new UserError(
        "SNAPSHOT_CORRUPT",
        `Snapshot ${s.name}: ${name} is ${got ? (got.size !== want.size ? `${got.size} bytes, not ${want.size}` : "not what snapshot.json says (sha256 differs)") : "missing"}.`,
        { hint: "The snapshot is damaged: take it again, or import its package again." },
      );
  }
  return s;
}
