import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { isMap, LineCounter, parse as parseYaml, parseDocument } from "yaml";
import type { z } from "zod";
import type { Diagnostic } from "../errors.js";
import { SpecSchema, type Spec } from "./schema.js";
import { parseSetPath, setAt } from "./set-path.js";
import { SourceMap, type Layer } from "./source-map.js";

export interface LoadOptions {
  /** `--set a.b=value` overrides, applied after `extends`, in order. */
  sets?: string[];
}

export interface LoadResult {
  /** Present only when there are no diagnostics. */
  spec?: Spec;
  diagnostics: Diagnostic[];
  /** Every spec file read, the given one first, then what it extends. */
  files: string[];
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

/** Paths whose values name host files, resolved relative to the spec file that set them. */
const HOST_PATHS: (string | number)[][] = [
  ["kernel", "path"],
  ["kernel", "initrd"],
  ["base", "oci-layout"],
  ["base", "tarball"],
  ["base", "dockerfile"],
  ["base", "context"],
];

/**
 * Read a spec, follow `extends`, apply `--set` overrides and validate, collecting every
 * problem (with file:line:col) rather than stopping at the first. Never throws for bad input.
 */
export function loadSpec(file: string, options: LoadOptions = {}): LoadResult {
  const diagnostics: Diagnostic[] = [];
  const map = new SourceMap();
  const layers = readChain(path.resolve(file), [], diagnostics);
  const files = layers.map((l) => l.layer.file).reverse();
  if (diagnostics.length) return { diagnostics, files };

  const merged: Obj = {};
  for (const { layer, value } of layers) mergeInto(merged, value, [], layer, map);
  delete merged.extends;

  for (const arg of options.sets ?? []) applySet(merged, arg, map, diagnostics);
  resolveHostPaths(merged, map);

  const parsed = SpecSchema.safeParse(merged, { reportInput: true });
  if (!parsed.success)
    diagnostics.push(...parsed.error.issues.flatMap((i) => toDiagnostics(i, map)));
  diagnostics.push(...semanticChecks(merged, map));

  diagnostics.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col);
  if (diagnostics.length || !parsed.success) return { diagnostics, files };
  return { spec: parsed.data, diagnostics, files };
}

function display(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel.startsWith("..") || path.isAbsolute(rel) ? file : rel;
}

/** The chain of files, base-most first. */
function readChain(
  file: string,
  seen: string[],
  diagnostics: Diagnostic[],
): { layer: Layer; value: Obj }[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    diagnostics.push({ file: display(file), line: 1, col: 1, message: "cannot read this file" });
    return [];
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const layer: Layer = { file: display(file), doc, lines };
  if (doc.errors.length) {
    for (const err of doc.errors) {
      const pos = lines.linePos(err.pos[0]);
      const message = err.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
      diagnostics.push({ file: layer.file, line: pos.line, col: pos.col, message });
    }
    return [];
  }
  if (!isMap(doc.contents)) {
    // At the root node itself (a list, a scalar), past any leading comments; 1:1 when empty.
    const pos = lines.linePos(doc.contents?.range[0] ?? 0);
    diagnostics.push({
      file: layer.file,
      line: pos.line,
      col: pos.col,
      message: "a spec must be a YAML mapping",
    });
    return [];
  }
  const value = doc.toJS() as Obj;
  const chain: { layer: Layer; value: Obj }[] = [];
  if (typeof value.extends === "string") {
    const base = path.resolve(path.dirname(file), value.extends);
    const here = new SourceMap();
    here.set([], { layer, docPath: [] });
    const at = here.locate(["extends"]);
    if (seen.includes(base) || base === file) {
      diagnostics.push({ ...at, message: `\`extends\` makes a cycle through ${display(base)}` });
    } else if (!existsSync(base)) {
      diagnostics.push({ ...at, message: `extended spec ${display(base)} does not exist` });
    } else {
      chain.push(...readChain(base, [...seen, file], diagnostics));
    }
  }
  chain.push({ layer, value });
  return chain;
}

/**
 * `extends` semantics: maps merge key by key, lists concatenate (base first), `null`
 * removes the key, anything else in the extending file replaces the base's value.
 */
function mergeInto(
  target: Obj,
  value: Obj,
  at: (string | number)[],
  layer: Layer,
  map: SourceMap,
): void {
  map.set(at, { layer, docPath: at });
  for (const [k, v] of Object.entries(value)) {
    const here = [...at, k];
    const old = target[k];
    if (v === null) {
      // `key: null` in an extending file removes the base's key (e.g. a base's suite
      // when the child starts from a container image instead).
      map.clear(here);
      delete target[k];
    } else if (isObj(old) && isObj(v)) {
      mergeInto(old, v, here, layer, map);
    } else if (Array.isArray(old) && Array.isArray(v)) {
      v.forEach((item, i) => record(item, [...here, old.length + i], layer, [...here, i], map));
      old.push(...v);
    } else {
      map.clear(here);
      record(v, here, layer, here, map);
      target[k] = structuredClone(v);
    }
  }
}

/** Record the origin of `value` and everything under it. */
function record(
  value: Json,
  at: (string | number)[],
  layer: Layer,
  docPath: (string | number)[],
  map: SourceMap,
): void {
  map.set(at, { layer, docPath });
  if (Array.isArray(value))
    value.forEach((v, i) => record(v, [...at, i], layer, [...docPath, i], map));
  else if (isObj(value)) {
    for (const [k, v] of Object.entries(value)) record(v, [...at, k], layer, [...docPath, k], map);
  }
}

function applySet(merged: Obj, arg: string, map: SourceMap, diagnostics: Diagnostic[]): void {
  const layer: Layer = { file: `--set ${arg}` };
  const fail = (message: string) =>
    diagnostics.push({ file: layer.file, line: 1, col: 1, message });
  const eq = arg.indexOf("=");
  const steps = eq > 0 ? parseSetPath(arg.slice(0, eq)) : undefined;
  if (!steps) {
    fail("expected KEY.PATH=VALUE, such as users[0].shell=/bin/zsh");
    return;
  }
  const raw = arg.slice(eq + 1);
  let value: Json = raw;
  // YAML would read "3.10" as the number 3.1: only booleans, null, integers and flow
  // collections are typed; everything else stays the string that was written.
  if (/^(true|false|null|-?\d+|\[.*\]|\{.*\})$/s.test(raw)) {
    try {
      value = parseYaml(raw) as Json;
    } catch {
      value = raw;
    }
  }
  const r = setAt(merged, steps, value);
  if (!r.ok) {
    fail(r.message);
    return;
  }
  // What this override made or replaced now comes from it, indexes and all: a problem
  // there points at the argument, not at the file line the old value came from.
  for (const p of [...r.created, r.path]) {
    map.clear(p);
    map.set(p, { layer, docPath: [] });
  }
}

function resolveHostPaths(merged: Obj, map: SourceMap): void {
  const paths = [...HOST_PATHS];
  if (Array.isArray(merged.files))
    merged.files.forEach((_, i) => paths.push(["files", i, "source"]));
  for (const p of paths) {
    const parent = get(merged, p.slice(0, -1));
    const last = p.at(-1)!;
    if (!isObj(parent) || typeof parent[last] !== "string") continue;
    const from = map.locate(p).file;
    const base = from.startsWith("--set ") ? process.cwd() : path.dirname(path.resolve(from));
    parent[last] = path.resolve(base, parent[last] as string);
  }
}

function semanticChecks(merged: Obj, map: SourceMap): Diagnostic[] {
  const out: Diagnostic[] = [];
  const at = (p: (string | number)[], message: string) => out.push({ ...map.locate(p), message });

  for (const list of ["users", "groups"] as const) {
    const items = merged[list];
    if (!Array.isArray(items)) continue;
    const seen = new Map<string, number>();
    items.forEach((item, i) => {
      if (!isObj(item) || typeof item.name !== "string") return;
      const first = seen.get(item.name);
      if (first !== undefined) {
        at(
          [list, i, "name"],
          `${list === "users" ? "user" : "group"} "${item.name}" is defined twice (first at ${list}[${first}])`,
        );
      } else seen.set(item.name, i);
    });
  }
  if (Array.isArray(merged.files)) {
    const seen = new Set<string>();
    merged.files.forEach((f, i) => {
      if (!isObj(f)) return;
      if (typeof f.path === "string") {
        if (seen.has(f.path)) at(["files", i, "path"], `file ${f.path} is listed twice`);
        seen.add(f.path);
      }
      if (typeof f.source === "string" && !existsSync(f.source)) {
        at(["files", i, "source"], `source file ${display(f.source)} does not exist`);
      }
    });
  }
  if (merged.arch !== undefined && merged.arch !== "amd64" && typeof merged.arch === "string")
    at(
      ["arch"],
      `arch ${merged.arch} is not supported yet: plinth builds its outputs (rootfs.ext4, vmlinuz, initrd.img) and boots them (plinth run, plinth check) only for amd64`,
    );
  if (merged.init === "minimal" && merged.agent !== true)
    at(
      [merged.agent === undefined ? "init" : "agent"],
      "`init: minimal` needs `agent: true`: the agent is the minimal init",
    );
  if (merged.init === "minimal" && isObj(merged.services)) {
    const used = Object.entries(merged.services).find(([, v]) => Array.isArray(v) && v.length);
    if (used)
      at(
        ["services", used[0]],
        "services need `init: systemd`; the minimal init runs only the agent",
      );
  }
  for (const p of HOST_PATHS) {
    const v = get(merged, p);
    if (typeof v === "string" && !existsSync(v))
      at(p, `${p.join(".")} ${display(v)} does not exist`);
  }
  return out;
}

function toDiagnostics(issue: z.core.$ZodIssue, map: SourceMap): Diagnostic[] {
  const where = issue.path.length ? `${formatPath(issue.path)}: ` : "";
  if (issue.code === "invalid_key") {
    // A record key that fails its pattern: point at the key, say what the key must be.
    const parent = issue.path.slice(0, -1);
    const message = issue.issues[0]?.message ?? issue.message;
    return [{ ...map.locate(parent, String(issue.path.at(-1))), message: `${where}${message}` }];
  }
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((k) => ({
      ...map.locate(issue.path, k),
      message: `${where}unknown key "${k}"`,
    }));
  }
  if (issue.code === "invalid_type" && issue.input === undefined && issue.path.length) {
    const parent = issue.path.slice(0, -1);
    return [
      {
        ...map.locate(parent),
        message: `${formatPath(parent) || "spec"}: \`${String(issue.path.at(-1))}\` is required`,
      },
    ];
  }
  return [{ ...map.locate(issue.path), message: `${where}${issue.message}` }];
}

function formatPath(p: readonly PropertyKey[]): string {
  return p
    .map((s, i) => (typeof s === "number" ? `[${s}]` : `${i ? "." : ""}${String(s)}`))
    .join("");
}

function get(obj: Json, p: (string | number)[]): Json | undefined {
  let node: Json | undefined = obj;
  for (const seg of p) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<string | number, Json>)[seg];
  }
  return node;
}

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
