import type { Spec } from "../../spec/schema.js";
import { applyFirewall } from "./firewall.js";
import type { Rootfs } from "./rootfs.js";
import { localeGenLine, yesNo, type Scalar } from "../../spec/normalize.js";
import { HEADER } from "./text.js";

/**
 * The spec's system-configuration sections, each rendered the way Debian expects it:
 * drop-in files where the daemon reads a directory, plinth's own block elsewhere. Pure
 * render functions (tested on their text) and one apply step that writes them.
 */

/** sshd keywords given once per value; for the others a list is one space-separated line. */
const SSHD_REPEATED = new Set(["HostKey", "HostCertificate", "ListenAddress", "Port"]);

export function renderSshd(ssh: NonNullable<Spec["ssh"]>): string {
  const lines = Object.entries(ssh).flatMap(([k, v]) => {
    if (!Array.isArray(v)) return [`${k} ${yesNo(v)}`];
    return SSHD_REPEATED.has(k) ? v.map((x) => `${k} ${x}`) : [`${k} ${v.join(" ")}`];
  });
  return HEADER + lines.map((l) => `${l}\n`).join("");
}

export function renderSysctl(sysctl: NonNullable<Spec["sysctl"]>): string {
  return (
    HEADER +
    Object.entries(sysctl)
      .map(([k, v]) => `${k} = ${typeof v === "boolean" ? Number(v) : v}\n`)
      .join("")
  );
}

export function renderLimits(limits: NonNullable<Spec["limits"]>): string {
  return HEADER + limits.map((l) => `${l.domain}\t${l.type}\t${l.item}\t${l.value}\n`).join("");
}

export function renderFstabEntries(mounts: NonNullable<Spec["mounts"]>): string {
  return (
    HEADER + mounts.map((m) => `${m.source}\t${m.target}\t${m.type}\t${m.options}\t0\t0\n`).join("")
  );
}

export function renderEnvironment(env: NonNullable<Spec["environment"]>): string {
  return (
    HEADER +
    Object.entries(env)
      .map(([k, v]) => `${k}="${v.replaceAll('"', '\\"')}"\n`)
      .join("")
  );
}

export function renderResolvConf(dns: string[]): string {
  return HEADER + dns.map((d) => `nameserver ${d}\n`).join("");
}

/** A systemd-style INI drop-in with one section. */
export function renderDropIn(section: string, values: Record<string, Scalar>): string {
  return (
    HEADER +
    `[${section}]\n` +
    Object.entries(values)
      .map(([k, x]) => `${k}=${yesNo(x)}\n`)
      .join("")
  );
}

export function renderLogrotate(rule: NonNullable<Spec["logrotate"]>[number]): string {
  const post = rule.postrotate
    ? `    postrotate\n${rule.postrotate
        .trimEnd()
        .split("\n")
        .map((l) => `        ${l}\n`)
        .join("")}    endscript\n`
    : "";
  return (
    HEADER +
    `${rule.paths.map((p) => (/\s/.test(p) ? `"${p}"` : p)).join(" ")} {\n${rule.options.map((o) => `    ${o}\n`).join("")}${post}}\n`
  );
}

const gitQuote = (s: string) =>
  `"${s.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")}"`;

/** git's INI: "a.b" is [a] b, "a.sub.b" is [a "sub"] b. */
export function renderGitConfig(git: NonNullable<Spec["git"]>): string {
  const sections = new Map<string, string[]>();
  for (const [key, value] of Object.entries(git)) {
    const first = key.indexOf(".");
    const last = key.lastIndexOf(".");
    const head =
      first === last
        ? key.slice(0, first)
        : `${key.slice(0, first)} ${gitQuote(key.slice(first + 1, last))}`;
    const v = String(value);
    const quoted = /^[\w./:@+-]+$/.test(v) ? v : gitQuote(v);
    sections.set(head, [...(sections.get(head) ?? []), `\t${key.slice(last + 1)} = ${quoted}\n`]);
  }
  return HEADER + [...sections].map(([h, lines]) => `[${h}]\n${lines.join("")}`).join("");
}

const SUPPORTED = "/usr/share/i18n/SUPPORTED";

/** "en_US.UTF-8" → the /etc/locale.gen line that generates it (when glibc's list lacks it). */
export async function applyConfigFiles(fs: Rootfs, spec: Spec): Promise<void> {
  if (spec.ssh)
    await fs.write("/etc/ssh/sshd_config.d/50-plinth.conf", renderSshd(spec.ssh), { mode: 0o644 });
  if (spec.sysctl)
    await fs.write("/etc/sysctl.d/90-plinth.conf", renderSysctl(spec.sysctl), { mode: 0o644 });
  if (spec.limits) {
    await fs.write("/etc/security/limits.d/90-plinth.conf", renderLimits(spec.limits), {
      mode: 0o644,
    });
  }
  if (spec.journald) {
    await fs.write(
      "/etc/systemd/journald.conf.d/90-plinth.conf",
      renderDropIn("Journal", spec.journald),
      {
        mode: 0o644,
      },
    );
  }
  if (spec.manager) {
    await fs.write(
      "/etc/systemd/system.conf.d/90-plinth.conf",
      renderDropIn("Manager", spec.manager),
      {
        mode: 0o644,
      },
    );
  }
  for (const rule of spec.logrotate ?? [])
    await fs.write(`/etc/logrotate.d/${rule.name}`, renderLogrotate(rule), { mode: 0o644 });
  if (spec.git) await fs.write("/etc/gitconfig", renderGitConfig(spec.git), { mode: 0o644 });
  for (const [name, body] of Object.entries(spec.profile ?? {}))
    await fs.write(`/etc/profile.d/${name}.sh`, HEADER + body.trimEnd() + "\n", { mode: 0o644 });
  if (spec.locale) {
    // glibc's own list knows each locale's charset (de_DE@euro is ISO-8859-15).
    const supported = fs.exists(SUPPORTED)
      ? (await fs.read(SUPPORTED)).split("\n").find((l) => l.startsWith(`${spec.locale} `))
      : undefined;
    const line = supported ?? localeGenLine(spec.locale);
    if (line) {
      await fs.append("/etc/locale.gen", line + "\n");
      await fs.chroot(["locale-gen"]);
    }
    await fs.write("/etc/default/locale", `LANG=${spec.locale}\n`, { mode: 0o644 });
  }
  if (spec.mounts?.length) await fs.append("/etc/fstab", renderFstabEntries(spec.mounts));
  if (spec.environment) await fs.append("/etc/environment", renderEnvironment(spec.environment));
  if (spec.dns?.length) {
    await fs.remove("/etc/resolv.conf"); // may be a symlink to a resolver's
    await fs.write("/etc/resolv.conf", renderResolvConf(spec.dns), { mode: 0o644 });
  }
  if (spec.firewall) await applyFirewall(fs, spec, spec.firewall);
}
