import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "./helpers.js";

/**
 * The layers of src/, lowest first (docs/architecture.md says why this order). A module
 * may import from its own layer entry and from lower ones, never from a higher one or a
 * sibling entry of its layer: every arrow between domains points one way.
 */
const LAYERS: string[][] = [
  ["contract.ts"],
  ["errors.ts"],
  ["events.ts", "names.ts", "paths.ts", "version.ts"],
  ["util/"],
  ["host/"],
  ["spec/"],
  ["image/"],
  ["store/"],
  ["registry/"],
  ["builder/"],
  ["agent/protocol/"],
  ["agent/client/"],
  ["net/"],
  ["vm/"],
  ["doctor/"],
  ["snapshot/"],
  ["sdk/"],
  ["check/"],
  ["ui/"],
  ["cli/"],
  ["index.ts"],
];

const SRC = path.join(ROOT, "src");

function entryOf(file: string): { layer: number; entry: string } {
  const rel = path.relative(SRC, file);
  for (const [layer, entries] of LAYERS.entries())
    for (const entry of entries)
      if (rel === entry || rel.startsWith(entry)) return { layer, entry };
  throw new Error(`${rel} is in no layer: add it to LAYERS`);
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sources(path.join(dir, e.name))
      : e.name.endsWith(".ts")
        ? [path.join(dir, e.name)]
        : [],
  );
}

/** Relative imports of a file (static `from` and dynamic `import()`), as .ts paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)].map((m) =>
    path.resolve(path.dirname(file), m[1]!.replace(/\.js$/, ".ts")),
  );
}

describe("architecture", () => {
  const files = sources(SRC);
  const graph = new Map(files.map((f) => [f, importsOf(f)]));

  it("imports point down the layers, never up or sideways between domains", () => {
    const wrong: string[] = [];
    for (const [file, deps] of graph) {
      const from = entryOf(file);
      for (const dep of deps) {
        const to = entryOf(dep);
        if (to.layer > from.layer || (to.layer === from.layer && to.entry !== from.entry))
          wrong.push(`${path.relative(SRC, file)} → ${path.relative(SRC, dep)}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it("has no import cycles between files", () => {
    const cycles: string[] = [];
    const state = new Map<string, "open" | "done">();
    const stack: string[] = [];
    const visit = (f: string) => {
      if (state.get(f) === "done") return;
      if (state.get(f) === "open") {
        const loop = stack.slice(stack.indexOf(f)).concat(f);
        cycles.push(loop.map((p) => path.relative(SRC, p)).join(" → "));
        return;
      }
      state.set(f, "open");
      stack.push(f);
      for (const dep of graph.get(f) ?? []) visit(dep);
      stack.pop();
      state.set(f, "done");
    };
    for (const f of files) visit(f);
    expect(cycles).toEqual([]);
  });
});
