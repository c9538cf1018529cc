import { readFile } from "node:fs/promises";
import { parseMode, type Spec } from "../../spec/schema.js";
import type { Rootfs } from "./rootfs.js";

/** Directories, then files (a file may live in a declared directory). */
export async function applyFiles(fs: Rootfs, spec: Spec): Promise<void> {
  for (const d of spec.directories) {
    await fs.mkdir(d.path, { mode: parseMode(d.mode, 0o755), owner: d.owner });
  }
  for (const f of spec.files) {
    const content = f.source ? await readFile(f.source) : Buffer.from(f.content ?? "");
    await fs.write(f.path, content, { mode: parseMode(f.mode, 0o644), owner: f.owner });
  }
}
