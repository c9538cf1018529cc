import type { Unit } from "../../spec/schema.js";

import { HEADER, yesNo as text, type Scalar as Value } from "./text.js";

// Keys that take one value per line: a command line or an assignment has spaces in it.
const repeated = (key: string) => /^(Exec|Environment$)/.test(key);

// The schema has checked every value; its type is lost on the spread-in hardening keys.
function section(title: string, values: object): string {
  const entries = Object.entries(values) as [string, Value | Value[] | undefined][];
  const lines = entries.flatMap(([key, v]) => {
    if (v === undefined) return [];
    if (!Array.isArray(v)) return [`${key}=${text(v)}`];
    return repeated(key) ? v.map((x) => `${key}=${text(x)}`) : [`${key}=${v.map(text).join(" ")}`];
  });
  return `[${title}]\n${lines.join("\n")}\n`;
}

/** A unit file from the spec: its verbatim `content`, or its typed sections in order. */
export function renderUnit(u: Unit): string {
  if (u.content !== undefined) return u.content;
  return [
    HEADER,
    u.unit && section("Unit", u.unit),
    u.service && section("Service", u.service),
    u.install && section("Install", u.install),
  ]
    .filter(Boolean)
    .join("\n");
}
