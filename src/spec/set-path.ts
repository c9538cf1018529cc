import { plural } from "../util/plural.js";

/**
 * One step of a `--set` path. `users[0]` is a key then an index; a bare `.0` (the older
 * spelling, `files.0.mode`) is an index into a list and a key into a mapping.
 */
export type SetStep = { key: string; index?: number } | { key?: undefined; index: number };

/** `a.b[2].c` → steps; undefined when the path is not well formed. */
export function parseSetPath(text: string): SetStep[] | undefined {
  const steps: SetStep[] = [];
  for (const part of text.split(".")) {
    const m = /^([^[\]]+)((?:\[\d+\])*)$/.exec(part);
    if (!m) return undefined;
    const [, key, brackets] = m as unknown as [string, string, string];
    steps.push(/^\d+$/.test(key) && !brackets ? { key, index: Number(key) } : { key });
    for (const [, i] of brackets.matchAll(/\[(\d+)\]/g)) steps.push({ index: Number(i) });
  }
  return steps;
}

export type SetResult =
  | { ok: true; path: (string | number)[]; created: (string | number)[][] }
  | { ok: false; message: string };

/**
 * Put `value` at `steps` inside `root`. Missing mappings on the way are created (and
 * reported in `created`, for the source map); a list index must exist: `--set` replaces
 * an item, it never appends one, so a typo cannot silently grow a list.
 */
export function setAt(root: object, steps: SetStep[], value: unknown): SetResult {
  const at: (string | number)[] = [];
  const created: (string | number)[][] = [];
  const whole = formatSetPath(stepsPath(steps));
  let node: unknown = root;
  for (const [i, step] of steps.entries()) {
    let seg: string | number;
    if (step.index !== undefined && (step.key === undefined || Array.isArray(node))) {
      const where = formatSetPath(at);
      if (!Array.isArray(node))
        return { ok: false, message: `${whole}: ${where} ${notAList(node)}` };
      if (step.index >= node.length) {
        const has = node.length
          ? `${plural(node.length, "item")} (${node.length === 1 ? "index 0" : `indexes 0–${node.length - 1}`})`
          : "no items";
        const append =
          step.index === node.length ? `; --set does not append: set the whole list` : "";
        return { ok: false, message: `${whole}: ${where} has ${has}${append}` };
      }
      seg = step.index;
    } else {
      if (Array.isArray(node)) {
        const where = formatSetPath(at);
        return {
          ok: false,
          message: `${whole}: ${where} is a list: address an item by index, as in ${where}[0]`,
        };
      }
      seg = step.key!;
    }
    at.push(seg);
    const container = node as Record<string | number, unknown>;
    const next = steps[i + 1];
    if (!next) {
      put(container, seg, value);
      break;
    }
    const child = Object.hasOwn(container, seg) ? container[seg] : undefined;
    // A mapping on the way is made when missing; a list is not (its index could not exist).
    if ((typeof child !== "object" || child === null) && next.key !== undefined) {
      put(container, seg, {});
      created.push([...at]);
    }
    node = container[seg];
  }
  return { ok: true, path: at, created };
}

/** `["users", 0, "shell"]` → `users[0].shell`, as messages write paths. */
export function formatSetPath(p: readonly (string | number)[]): string {
  return p.map((s, i) => (typeof s === "number" ? `[${s}]` : `${i ? "." : ""}${s}`)).join("");
}

function stepsPath(steps: SetStep[]): (string | number)[] {
  return steps.map((s) => (s.key === undefined ? s.index : s.key));
}

function notAList(v: unknown): string {
  if (v === undefined) return "is not set, so it has no items";
  if (v === null) return "is null, not a list";
  if (typeof v === "object") return "is a mapping, not a list";
  return `is a ${typeof v}, not a list`;
}

/** An own property even for a key such as `__proto__`, which plain assignment would not make. */
function put(container: Record<string | number, unknown>, key: string | number, v: unknown) {
  Object.defineProperty(container, key, {
    value: v,
    writable: true,
    enumerable: true,
    configurable: true,
  });
}
