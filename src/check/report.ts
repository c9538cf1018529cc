import type { CheckReport } from "./run.js";

/** A fixed-width table: status, check, expected, actual. */
export function formatTable(report: CheckReport): string[] {
  const rows = report.results.map((r) => [
    r.skipped ? "skip" : r.ok ? "pass" : "FAIL",
    `${r.group}: ${r.name}`,
    r.expected,
    r.skipped ? `${r.actual} (${r.skipped})` : r.actual,
  ]);
  const widths = [4, 0, 0].map((w, i) =>
    Math.min(48, Math.max(w, ...rows.map((r) => r[i]!.length))),
  );
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c)).join("  ");
  return [
    line(["", "CHECK", "EXPECTED", "ACTUAL"]),
    ...rows.map(line),
    `${report.name} ${report.version}: ${report.passed} passed, ${report.failed} failed${report.skipped ? `, ${report.skipped} not judged (${report.accel.toUpperCase()}: the limits are for KVM)` : ""} (boot-to-agent-ready ${report.bootMs} ms, ${report.accel})`,
  ];
}

const xml = (s: string) =>
  s.replace(
    /[<>&"']/g,
    (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!,
  );

/** JUnit XML, one testcase per check, for CI dashboards. */
export function toJUnit(report: CheckReport): string {
  const cases = report.results.map((r) => {
    const head = `    <testcase classname="${xml(r.group)}" name="${xml(r.name)}">`;
    if (r.skipped)
      return `${head}\n      <skipped message="${xml(`${r.actual}: ${r.skipped}`)}"/>\n    </testcase>`;
    if (r.ok) return `${head}</testcase>`;
    return `${head}\n      <failure message="${xml(`expected ${r.expected}, got ${r.actual}`)}"/>\n    </testcase>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites tests="${report.results.length}" failures="${report.failed}" skipped="${report.skipped}">`,
    `  <testsuite name="${xml(`plinth check ${report.name} ${report.version}`)}" tests="${report.results.length}" failures="${report.failed}" skipped="${report.skipped}">`,
    ...cases,
    "  </testsuite>",
    "</testsuites>",
    "",
  ].join("\n");
}
