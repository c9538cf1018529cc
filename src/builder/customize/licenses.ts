import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { inside } from "../../util/safe-path.js";
import { resolveInRoot } from "../in-root.js";

/** GNU licenses: `+` means `-or-later`, none means `-only`. Keys are Debian's, lowercased. */
const GNU: Record<string, string> = {
  "gpl-1": "GPL-1.0",
  "gpl-1.0": "GPL-1.0",
  "gpl-2": "GPL-2.0",
  "gpl-2.0": "GPL-2.0",
  "gpl-3": "GPL-3.0",
  "gpl-3.0": "GPL-3.0",
  "lgpl-2": "LGPL-2.0",
  "lgpl-2.0": "LGPL-2.0",
  "lgpl-2.1": "LGPL-2.1",
  "lgpl-3": "LGPL-3.0",
  "lgpl-3.0": "LGPL-3.0",
  "agpl-3": "AGPL-3.0",
  "agpl-3.0": "AGPL-3.0",
  "gfdl-1.1": "GFDL-1.1",
  "gfdl-1.2": "GFDL-1.2",
  "gfdl-1.3": "GFDL-1.3",
};

/** Other Debian short names and their SPDX ids (a `+` stays SPDX's `+`). */
const OTHER: Record<string, string> = {
  "apache-1.0": "Apache-1.0",
  "apache-1.1": "Apache-1.1",
  "apache-2.0": "Apache-2.0",
  artistic: "Artistic-1.0",
  "artistic-1.0": "Artistic-1.0",
  "artistic-2.0": "Artistic-2.0",
  "bsd-2-clause": "BSD-2-Clause",
  "bsd-3-clause": "BSD-3-Clause",
  "bsd-4-clause": "BSD-4-Clause",
  "bsl-1.0": "BSL-1.0",
  "cc0-1.0": "CC0-1.0",
  "cc-by-3.0": "CC-BY-3.0",
  "cc-by-4.0": "CC-BY-4.0",
  "cc-by-sa-3.0": "CC-BY-SA-3.0",
  "cc-by-sa-4.0": "CC-BY-SA-4.0",
  curl: "curl",
  expat: "MIT",
  isc: "ISC",
  mit: "MIT",
  "mpl-1.1": "MPL-1.1",
  "mpl-2.0": "MPL-2.0",
  "ofl-1.1": "OFL-1.1",
  openssl: "OpenSSL",
  "psf-2": "PSF-2.0",
  "python-2.0": "Python-2.0",
  "unicode-dfs-2015": "Unicode-DFS-2015",
  "unicode-dfs-2016": "Unicode-DFS-2016",
  x11: "X11",
  zlib: "Zlib",
};

/** SPDX exception ids a `with X exception` may name, lowercased → as SPDX spells them. */
const EXCEPTIONS = new Map(
  [
    "Autoconf-exception-2.0",
    "Autoconf-exception-3.0",
    "Bison-exception-2.2",
    "Classpath-exception-2.0",
    "Font-exception-2.0",
    "GCC-exception-2.0",
    "GCC-exception-3.1",
    "Libtool-exception",
    "Linux-syscall-note",
    "LLVM-exception",
    "OCaml-LGPL-linking-exception",
    "Qt-GPL-exception-1.0",
    "Qt-LGPL-exception-1.1",
    "u-boot-exception-2.0",
    "WxWindows-exception-3.1",
  ].map((id) => [id.toLowerCase(), id]),
);

/** SPDX ids written as such in a copyright file (`GPL-2.0-or-later`) pass through. */
const SPDX_IDS = new Map(
  [
    ...Object.values(GNU).flatMap((id) => [`${id}-only`, `${id}-or-later`]),
    ...Object.values(OTHER),
  ].map((id) => [id.toLowerCase(), id]),
);

const DEP5_FORMAT = /copyright-format\/1\.0|dep\.debian\.net\/deps\/dep5/i;

/** A parsed license expression: a license (maybe `WITH` an exception), or AND/OR of others. */
type Expr = string | { op: "AND" | "OR"; args: Expr[] };

/**
 * Each package's declared license as an SPDX expression, from the machine-readable (DEP-5)
 * `/usr/share/doc/<pkg>/copyright` in `tree`. A package whose file is missing, free text,
 * or unreadable is left out: a guess would be worse than no answer. Paths resolve as a
 * chroot would, so a link in the image never reads a host file.
 */
export async function licensesOf(tree: string, packages: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const pkg of packages) {
    // dpkg may qualify a name with its arch (libc6:amd64); the doc dir is the bare name.
    const bare = pkg.replace(/:[a-z0-9-]+$/, "");
    if (!/^[a-z0-9][a-z0-9+.-]*$/.test(bare)) continue;
    const text = await readInTree(tree, `/usr/share/doc/${bare}/copyright`);
    const license = text === undefined ? undefined : dep5License(text);
    if (license) out.set(pkg, license);
  }
  return out;
}

async function readInTree(tree: string, inTree: string): Promise<string | undefined> {
  try {
    const file = inside(tree, resolveInRoot(tree, inTree));
    // O_NOFOLLOW: the resolved path is the file itself, never a link swapped in since.
    const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      if (!(await handle.stat()).isFile()) return undefined;
      return await handle.readFile("utf8");
    } finally {
      await handle.close();
    }
  } catch {
    return undefined;
  }
}

/** The combined expression of a DEP-5 file, or undefined if it is not one or names none. */
export function dep5License(text: string): string | undefined {
  const paragraphs = text
    .replace(/\r\n/g, "\n")
    .split(/\n[ \t]*\n/)
    .map(fields)
    .filter((p) => p.size);
  const header = paragraphs[0];
  if (!header || !DEP5_FORMAT.test(header.get("format") ?? "")) return undefined;
  // Stand-alone License paragraphs only give the text of a name used elsewhere: counting
  // them would turn `GPL-2+ or Artistic` into a requirement of GPL-2+ too.
  const synopses = paragraphs
    .filter((p, i) => i === 0 || p.has("files"))
    .map((p) => p.get("license"))
    .filter((l): l is string => !!l);
  const parts = new Map<string, Expr>();
  for (const s of synopses)
    for (const e of flatten("AND", [parse(s)])) parts.set(render(e, "AND"), e);
  if (!parts.size) return undefined;
  const sorted = [...parts.keys()].sort().map((k) => parts.get(k)!);
  return render(sorted.length === 1 ? sorted[0]! : { op: "AND", args: sorted });
}

/** A deb822 paragraph's fields (names lowercased) → the first line of each value. */
function fields(paragraph: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of paragraph.split("\n")) {
    const m = /^([!-9;-~][!-9;-~]*):(.*)$/.exec(line);
    if (m && !line.startsWith("#")) out.set(m[1]!.toLowerCase(), m[2]!.trim());
  }
  return out;
}

/**
 * A License synopsis. Debian's `and` binds tighter than `or`, as SPDX's does; a comma
 * before a conjunction ends a group (`A or B, and C` is `(A OR B) AND C`). Anything that
 * does not parse is one LicenseRef for the whole synopsis.
 */
function parse(synopsis: string): Expr {
  const groups = synopsis.split(/,\s*(?=(?:and|or)\s)/i);
  let acc = parseGroup(groups[0]!);
  for (const g of groups.slice(1)) {
    const m = /^(and|or)\s+(.*)$/i.exec(g);
    const rest = m && parseGroup(m[2]!);
    if (!acc || !rest) return licenseRef(synopsis);
    acc = { op: m[1]!.toUpperCase() === "AND" ? "AND" : "OR", args: [acc, rest] };
  }
  return acc ?? licenseRef(synopsis);
}

function parseGroup(group: string): Expr | undefined {
  const words = group.trim().split(/\s+/);
  const ors: Expr[][] = [[]];
  for (let i = 0; i < words.length;) {
    let term = words[i++]!;
    if (!term || /^(and|or|with)$/i.test(term)) return undefined;
    if (words[i]?.toLowerCase() === "with") {
      // `with X exception`, or `with <an SPDX exception id>` alone.
      let end = words.findIndex((w, j) => j > i && w.toLowerCase() === "exception");
      if (end < 0 && EXCEPTIONS.has(words[i + 1]?.toLowerCase() ?? "")) end = i + 1;
      if (end < 0) return undefined;
      term = words.slice(i - 1, end + 1).join(" ");
      i = end + 1;
    }
    ors.at(-1)!.push(license(term));
    const conj = words[i++]?.toLowerCase();
    if (conj === undefined) break;
    if ((conj !== "and" && conj !== "or") || i >= words.length) return undefined;
    if (conj === "or") ors.push([]);
  }
  const ands = ors.map((a): Expr => (a.length === 1 ? a[0]! : { op: "AND", args: a }));
  return ands.length === 1 ? ands[0] : { op: "OR", args: ands };
}

/** One license term, maybe `NAME with X exception`, as SPDX. */
function license(term: string): string {
  const m = /^(\S+)\s+with\s+(.+?)(?:\s+exception)?$/i.exec(term);
  if (m) {
    const base = knownId(m[1]!);
    const x = m[2]!.toLowerCase().replace(/\s+/g, "-");
    const exception = EXCEPTIONS.get(x) ?? EXCEPTIONS.get(`${x}-exception`);
    return base && exception ? `${base} WITH ${exception}` : licenseRef(term);
  }
  return knownId(term) ?? licenseRef(term);
}

function knownId(name: string): string | undefined {
  const lower = name.toLowerCase();
  const plus = lower.endsWith("+");
  const bare = plus ? lower.slice(0, -1) : lower;
  const gnu = GNU[bare];
  if (gnu) return `${gnu}-${plus ? "or-later" : "only"}`;
  const id = OTHER[bare] ?? SPDX_IDS.get(bare);
  return id && `${id}${plus ? "+" : ""}`;
}

/** `LicenseRef-` with only the characters SPDX allows; a `+` is kept as `-plus`. */
function licenseRef(name: string): string {
  const id = name
    .replace(/\+/g, "-plus")
    .replace(/[^A-Za-z0-9.-]+/g, "-")
    .replace(/-{2,}/g, "-")
    .replace(/^-|-$/g, "");
  return `LicenseRef-${id || "unknown"}`;
}

function flatten(op: "AND" | "OR", args: Expr[]): Expr[] {
  return args.flatMap((a) => (typeof a !== "string" && a.op === op ? flatten(op, a.args) : [a]));
}

/** SPDX text; a compound inside another compound is parenthesized, for readers' sake. */
function render(e: Expr, parent?: "AND" | "OR"): string {
  if (typeof e === "string") return e;
  const text = flatten(e.op, e.args)
    .map((a) => render(a, e.op))
    .join(` ${e.op} `);
  return parent ? `(${text})` : text;
}
