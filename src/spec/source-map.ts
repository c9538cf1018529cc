import { isMap, isPair, isScalar, isSeq, LineCounter, type Document, type Node } from "yaml";

/** One parsed YAML file (or one `--set` override) that contributes to a spec. */
export interface Layer {
  file: string;
  doc?: Document.Parsed;
  lines?: LineCounter;
  /** For `--set`: the whole argument, reported as column 1 of line 1. */
}

export interface Origin {
  layer: Layer;
  /** Path inside that layer's document. */
  docPath: (string | number)[];
}

/**
 * Remembers, for every node of a merged spec, which file and YAML node it came from,
 * so that a problem found after merging `extends` and `--set` points at the right line.
 */
export class SourceMap {
  private origins = new Map<string, Origin>();

  set(path: (string | number)[], origin: Origin): void {
    this.origins.set(key(path), origin);
  }

  /** Forget everything recorded under `path` (the value there was replaced). */
  clear(path: (string | number)[]): void {
    const k = key(path);
    for (const existing of this.origins.keys()) {
      if (existing === k || existing.startsWith(k + "\u0000")) this.origins.delete(existing);
    }
  }

  /**
   * Position of `path`. When `keyOf` is given, the position of that key inside the map
   * at `path` (used for unknown keys). Falls back to the nearest ancestor that exists.
   */
  locate(
    path: readonly PropertyKey[],
    keyOf?: string,
  ): { file: string; line: number; col: number } {
    const p = path.map((s) => (typeof s === "symbol" ? String(s) : s)) as (string | number)[];
    for (let n = p.length; n >= 0; n--) {
      const origin = this.origins.get(key(p.slice(0, n)));
      if (!origin) continue;
      const { layer } = origin;
      if (!layer.doc || !layer.lines) return { file: layer.file, line: 1, col: 1 };
      const docPath = [...origin.docPath, ...p.slice(n)];
      const node = nearestNode(layer.doc, docPath, n === p.length ? keyOf : undefined);
      const offset = node?.range?.[0] ?? 0;
      const pos = layer.lines.linePos(offset);
      return { file: layer.file, line: pos.line, col: pos.col };
    }
    return { file: "<spec>", line: 1, col: 1 };
  }
}

function key(path: (string | number)[]): string {
  return path.join("\u0000");
}

function nearestNode(doc: Document.Parsed, path: (string | number)[], keyOf?: string): Node | null {
  let node: unknown = doc.contents;
  for (const seg of path) {
    const next = child(node, seg);
    if (next === undefined) return node as Node;
    node = next;
  }
  if (keyOf !== undefined && isMap(node)) {
    const pair = node.items.find((it) => isPair(it) && isScalar(it.key) && it.key.value === keyOf);
    if (pair && isPair(pair)) return pair.key as Node;
  }
  return node as Node;
}

function child(node: unknown, seg: string | number): unknown {
  if (isMap(node)) {
    const pair = node.items.find((it) => isScalar(it.key) && String(it.key.value) === String(seg));
    return pair?.value ?? pair?.key ?? undefined;
  }
  if (isSeq(node) && typeof seg === "number") return node.items[seg];
  return undefined;
}
