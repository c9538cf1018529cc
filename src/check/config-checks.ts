import { localeGenLine } from "../build/customize/config-files.js";
import { trimOptions } from "../build/customize/trim.js";
import { yesNo } from "../build/customize/text.js";
import { HARDENING_KEYS, parseSize, type Spec } from "../spec/schema.js";
import { equals, norm, q, type Check } from "./check.js";

type UnitValue = string | number | boolean | (string | number | boolean)[];

/**
 * How `systemctl show` prints a hardening key the spec sets, so the effective value can be
 * compared: sizes in bytes, CPUQuota as time per second, booleans as yes/no.
 */
export function showProperty(key: string, v: UnitValue): { property: string; value: string } {
  if (key === "CPUQuota") {
    const ms = parseInt(String(v), 10) * 10; // 100% = 1 s of CPU per second
    return { property: "CPUQuotaPerSecUSec", value: ms % 1000 ? `${ms}ms` : `${ms / 1000}s` };
  }
  if ((key === "MemoryMax" || key === "MemoryHigh") && /^\d+(\.\d+)?[KMGT]?$/.test(String(v)))
    return { property: key, value: String(parseSize(String(v))) };
  if (Array.isArray(v)) return { property: key, value: v.map(yesNo).join(" ") };
  return { property: key, value: yesNo(v) };
}

function unitChecks(spec: Spec): Check[] {
  const checks: Check[] = [];
  for (const u of spec.services.units ?? []) {
    for (const [key, v] of Object.entries(u.service ?? {})) {
      if (!(key in HARDENING_KEYS) || v === undefined) continue;
      if (key === "AmbientCapabilities" || key === "CapabilityBoundingSet") continue; // printed as a set
      const { property, value } = showProperty(key, v as UnitValue);
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
    // locale -a prints en_US.utf8 for en_US.UTF-8.
    const name = spec.locale.replace(/\.UTF-?8/i, ".utf8");
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
        (out) => `${out.trim()} files`,
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
        (out) => `${out.trim()} files`,
      ),
    );
  return checks;
}
