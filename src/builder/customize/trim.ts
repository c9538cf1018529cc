import { readdir, rm } from "node:fs/promises";
import path from "node:path";
import type { Spec } from "../../spec/schema.js";
import { trimOptions, type Trim } from "../../spec/normalize.js";
import type { Rootfs } from "./rootfs.js";
import { HEADER } from "./text.js";

/** dpkg filters, so packages installed later (by `run` steps, or in the guest) stay trimmed. */
export function renderDpkgTrim(t: Trim): string {
  return (
    HEADER +
    (t.docs
      ? "path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\n" +
        "path-exclude /usr/share/info/*\n"
      : "") +
    (t.man ? "path-exclude /usr/share/man/*\n" : "") +
    (t.locales
      ? "path-exclude /usr/share/locale/*\npath-include /usr/share/locale/locale.alias\n"
      : "")
  );
}

/** Leave out what `trim:` asks, after everything else is installed. */
export async function applyTrim(fs: Rootfs, spec: Spec): Promise<void> {
  const t = trimOptions(spec.trim);
  if (!t) return;
  await fs.write("/etc/dpkg/dpkg.cfg.d/90-plinth-trim", renderDpkgTrim(t), { mode: 0o644 });
  const keep = (p: string) => p.endsWith("/copyright") || p.endsWith("/locale.alias");
  const dirs = [
    ...(t.docs ? ["/usr/share/doc", "/usr/share/info"] : []),
    ...(t.man ? ["/usr/share/man"] : []),
    ...(t.locales ? ["/usr/share/locale"] : []),
  ];
  for (const dir of dirs) await removeTree(fs.path(dir), keep);
  if (t.apt_lists) {
    await fs.chroot(["apt-get", "clean"]);
    await removeTree(fs.path("/var/lib/apt/lists"), (p) => p.endsWith("/lock"));
  }
}

/** Remove everything under `dir` except the files `keep` names (and the dirs holding them). */
async function removeTree(dir: string, keep: (p: string) => boolean): Promise<boolean> {
  let kept = false;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory() && !e.isSymbolicLink()) {
      if (await removeTree(p, keep)) kept = true;
      else await rm(p, { recursive: true, force: true });
    } else if (keep(p)) kept = true;
    else await rm(p, { force: true });
  }
  return kept;
}
