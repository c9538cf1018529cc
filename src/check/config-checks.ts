import { plural } from "../util/plural.js";
import { localeGenLine, trimOptions, yesNo } from "../spec/normalize.js";
import { HARDENING_KEYS, parseSize, type Spec } from "../spec/schema.js";
import { equals, norm, q, type Check } from "./check.js";

type UnitValue = string | number | boolean | (string | number | boolean)[];

/**
 * How `systemctl show` prints a hardening key the spec sets, so the effective value can be
 * compared: sizes in bytes, CPUQuota as time per second, booleans as yes/no. Undefined for
 * forms it prints otherwise (a percentage of memory or tasks becomes an absolute number).
 */
export function showProperty(
  key: string,
  v: UnitValue,
): { property: string; value: string } | undefined {
  if (key === "CPUQuota") {
    const ms = parseInt(String(v), 10) * 10; // 100% = 1 s of CPU per second
    if (ms >= 60_000) return undefined; // printed as minutes and seconds
    // systemd's format_timespan: "500ms", "1s", and "1.500000s" for a fraction of a second.
    const s = Math.floor(ms / 1000);
    const value =
      ms < 1000
        ? `${ms}ms`
        : ms % 1000
          ? `${s}.${String((ms % 1000) * 1000).padStart(6, "0")}s`
          : `${s}s`;
    return { property: "CPUQuotaPerSecUSec", value };
  }
  if (key === "MemoryMax" || key === "MemoryHigh" || key === "TasksMax") {
    const text = String(v);
    if (text === "infinity") return { property: key, value: text };
    if (!/^\d+(\.\d+)?[KMGT]?$/.test(text)) return undefined; // a percentage
    return { property: key, value: String(parseSize(text)) };
  }
  if (Array.isArray(v)) return { property: key, value: v.map(yesNo).join(" ") };
  return { property: key, value: yesNo(v) };
}

function unitChecks(spec: Spec): Check[] {
  const checks: Check[] = [];
  for (const u of spec.services.units ?? []) {
    for (const [key, v] of Object.entries(u.service ?? {})) {
      if (!(key in HARDENING_KEYS) || v === undefined) continue;
      if (key === "AmbientCapabilities" || key === "CapabilityBoundingSet") continue; // printed as a set
      const shown = showProperty(key, v as UnitValue);
      if (!shown) continue;
      const { property, value } = shown;
      checks.push(
        equals(
          "units",
          `${u.name} ${key}`,
          value,
          `systemctl show -p ${property} --value ${q(u.name)}`,
        ),
      );
    }
  }
  return checks;
}

/** The sections rendered into config files (config-files.ts), checked in the running guest. */
export function configChecks(spec: Spec): Check[] {
  const checks = unitChecks(spec);
  for (const rule of spec.logrotate ?? []) {
    const file = `/etc/logrotate.d/${rule.name}`;
    checks.push(
      equals("logrotate", file, "valid", `logrotate -d ${q(file)} >/dev/null 2>&1 && echo valid`),
    );
  }
  for (const [key, value] of Object.entries(spec.git ?? {})) {
    checks.push(equals("git", key, norm(String(value)), `git config --system --get ${q(key)}`));
  }
  if (spec.locale) {
    const gen = localeGenLine(spec.locale);
    // locale -a normalises the charset: en_US.UTF-8 → en_US.utf8, ISO-8859-15 → iso885915.
    const name = spec.locale.replace(
      /\.([^@]+)/,
      (_, cs: string) => `.${cs.toLowerCase().replace(/[^a-z0-9]/g, "")}`,
    );
    if (gen)
      checks.push(
        equals("locale", `${spec.locale} generated`, name, `locale -a | grep -ixF ${q(name)}`),
      );
    checks.push(equals("locale", "LANG", spec.locale, '. /etc/default/locale && echo "$LANG"'));
  }
  for (const name of Object.keys(spec.profile ?? {})) {
    checks.push(
      equals(
        "profile",
        `/etc/profile.d/${name}.sh`,
        "valid",
        `sh -n /etc/profile.d/${name}.sh && echo valid`,
      ),
    );
  }
  const t = trimOptions(spec.trim);
  const trimmed = [
    ...(t?.docs ? ["/usr/share/doc"] : []),
    ...(t?.man ? ["/usr/share/man"] : []),
    ...(t?.locales ? ["/usr/share/locale"] : []),
  ];
  for (const dir of trimmed) {
    checks.push(
      equals(
        "trim",
        dir,
        "0 files",
        `find ${dir} -type f ! -name copyright ! -name locale.alias 2>/dev/null | wc -l`,
        (out) => plural(Number(out.trim()), "file"),
      ),
    );
  }
  if (t?.apt_lists)
    checks.push(
      equals(
        "trim",
        "/var/lib/apt/lists",
        "0 files",
        "find /var/lib/apt/lists -type f ! -name lock | wc -l",
        (out) => plural(Number(out.trim()), "file"),
      ),
    );
  return checks;
}
