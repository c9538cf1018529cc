import type { Unit } from "../../spec/schema.js";

import { yesNo as text, type Scalar as Value } from "../../spec/normalize.js";
import { HEADER } from "./text.js";

// Keys that take one value per line: a command line or an assignment has spaces in it.
const repeated = (key: string) => /^(Exec|Environment$|EnvironmentFile$)/.test(key);
// An Environment= assignment is quoted, so a value may hold spaces.
const quoteAssignment = (v: string) => `"${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;

// The schema has checked every value; its type is lost on the spread-in hardening keys.
function section(title: string, values: object): string {
  const entries = Object.entries(values) as [string, Value | Value[] | undefined][];
  const one = (key: string, x: Value) =>
    key === "Environment" ? quoteAssignment(text(x)) : text(x);
  const lines = entries.flatMap(([key, v]) => {
    if (v === undefined) return [];
    if (!Array.isArray(v)) return [`${key}=${one(key, v)}`];
    if (!repeated(key)) return [`${key}=${v.map(text).join(" ")}`];
    return v.map((x) => `${key}=${one(key, x)}`);
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
