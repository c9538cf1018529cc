import { existsSync } from "node:fs";
import { readdir, rm } from "node:fs/promises";
import path from "node:path";
import type { Spec } from "../../spec/schema.js";
import type { Rootfs } from "./rootfs.js";

/**
 * The spec's system-configuration sections, each rendered the way Debian expects it:
 * drop-in files where the daemon reads a directory, plinth's own block elsewhere. Pure
 * render functions (tested on their text) and one apply step that writes them.
 */

const HEADER = "# Written by plinth from the image spec.\n";

type Scalar = string | number | boolean;

/** sshd keywords given once per value; for the others a list is one space-separated line. */
const SSHD_REPEATED = new Set(["HostKey", "HostCertificate", "ListenAddress", "Port"]);

export function renderSshd(ssh: NonNullable<Spec["ssh"]>): string {
  const value = (v: Scalar) => (typeof v === "boolean" ? (v ? "yes" : "no") : String(v));
  const lines = Object.entries(ssh).flatMap(([k, v]) => {
    if (!Array.isArray(v)) return [`${k} ${value(v)}`];
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

/** An nftables ruleset in its own table: default policies plus the allowed ports. */
export function renderNftables(fw: NonNullable<Spec["firewall"]>): string {
  const policy = (p: "deny" | "allow") => (p === "deny" ? "drop" : "accept");
  const rules = fw.allow.map((a) => {
    const port = String(a.port).replace(":", "-");
    const from = a.from ? `${a.from.includes(":") ? "ip6" : "ip"} saddr ${a.from} ` : "";
    return `\t\t${from}${a.proto} dport ${port} accept\n`;
  });
  return (
    "#!/usr/sbin/nft -f\n" +
    HEADER +
    "flush ruleset\n\n" +
    "table inet plinth {\n" +
    "\tchain input {\n" +
    `\t\ttype filter hook input priority 0; policy ${policy(fw.incoming)};\n` +
    '\t\tiif "lo" accept\n' +
    "\t\tct state established,related accept\n" +
    "\t\tct state invalid drop\n" +
    "\t\tip protocol icmp accept\n" +
    "\t\tip6 nexthdr 58 accept\n" + // ICMPv6; by number: names need /etc/protocols
    rules.join("") +
    "\t}\n" +
    "\tchain forward {\n\t\ttype filter hook forward priority 0; policy drop;\n\t}\n" +
    "\tchain output {\n" +
    `\t\ttype filter hook output priority 0; policy ${policy(fw.outgoing)};\n` +
    (fw.outgoing === "deny"
      ? '\t\toif "lo" accept\n\t\tct state established,related accept\n'
      : "") +
    "\t}\n}\n"
  );
}

/** A systemd-style INI drop-in with one section. */
export function renderDropIn(section: string, values: Record<string, Scalar>): string {
  const v = (x: Scalar) => (typeof x === "boolean" ? (x ? "yes" : "no") : String(x));
  return (
    HEADER +
    `[${section}]\n` +
    Object.entries(values)
      .map(([k, x]) => `${k}=${v(x)}\n`)
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
    `${rule.paths.join(" ")} {\n${rule.options.map((o) => `    ${o}\n`).join("")}${post}}\n`
  );
}

/** git's INI: "a.b" is [a] b, "a.sub.b" is [a "sub"] b. */
export function renderGitConfig(git: NonNullable<Spec["git"]>): string {
  const sections = new Map<string, string[]>();
  for (const [key, value] of Object.entries(git)) {
    const first = key.indexOf(".");
    const last = key.lastIndexOf(".");
    const head =
      first === last
        ? key.slice(0, first)
        : `${key.slice(0, first)} "${key.slice(first + 1, last).replaceAll('"', '\\"')}"`;
    const v = String(value);
    const quoted = /^[\w./:@+-]+$/.test(v)
      ? v
      : `"${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
    sections.set(head, [...(sections.get(head) ?? []), `\t${key.slice(last + 1)} = ${quoted}\n`]);
  }
  return HEADER + [...sections].map(([h, lines]) => `[${h}]\n${lines.join("")}`).join("");
}

/** "en_US.UTF-8" → the /etc/locale.gen line that generates it. */
export function localeGenLine(locale: string): string | undefined {
  if (/^C\.UTF-8$/i.test(locale)) return undefined; // built into glibc
  const charset = /\.([^@]+)/.exec(locale)?.[1] ?? "ISO-8859-1";
  return `${locale} ${charset.toUpperCase() === "UTF8" ? "UTF-8" : charset}`;
}

export interface Trim {
  docs: boolean;
  man: boolean;
  locales: boolean;
  apt_lists: boolean;
}

export function trimOptions(trim: Spec["trim"]): Trim | undefined {
  if (trim === undefined || trim === false) return undefined;
  if (trim === true) return { docs: true, man: true, locales: true, apt_lists: true };
  return trim;
}

/** dpkg filters, so packages installed later (by `run` steps, or in the guest) stay trimmed. */
export function renderDpkgTrim(t: Trim): string {
  return (
    HEADER +
    (t.docs
      ? "path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\n" +
        "path-exclude /usr/share/info/*\n"
      : "") +
    (t.man ? "path-exclude /usr/share/man/*\n" : "") +
    (t.locales
      ? "path-exclude /usr/share/locale/*\npath-include /usr/share/locale/locale.alias\n"
      : "")
  );
}

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
    const line = localeGenLine(spec.locale);
    if (line) {
      await append(fs, "/etc/locale.gen", line + "\n");
      await fs.chroot(["locale-gen"]);
    }
    await fs.write("/etc/default/locale", `LANG=${spec.locale}\n`, { mode: 0o644 });
  }
  if (spec.mounts?.length) await append(fs, "/etc/fstab", renderFstabEntries(spec.mounts));
  if (spec.environment) await append(fs, "/etc/environment", renderEnvironment(spec.environment));
  if (spec.dns?.length) {
    await rm(fs.path("/etc/resolv.conf"), { force: true }); // may be a symlink to a resolver's
    await fs.write("/etc/resolv.conf", renderResolvConf(spec.dns), { mode: 0o644 });
  }
  if (spec.firewall?.backend === "ufw") await applyUfw(fs, spec, spec.firewall);
  else if (spec.firewall) {
    await fs.write("/etc/nftables.conf", renderNftables(spec.firewall), { mode: 0o755 });
    if (spec.init === "systemd") await fs.chroot(["systemctl", "enable", "nftables.service"]);
  }
}

/** ufw's own commands as arguments, one rule each (`ufw allow …` only edits files offline). */
export function ufwCommands(fw: NonNullable<Spec["firewall"]>): string[][] {
  return [
    ["default", fw.incoming, "incoming"],
    ["default", fw.outgoing, "outgoing"],
    ...fw.allow.map((a) =>
      a.from
        ? ["allow", "from", a.from, "to", "any", "port", String(a.port), "proto", a.proto]
        : ["allow", `${String(a.port).replace("-", ":")}/${a.proto}`],
    ),
  ];
}

async function applyUfw(fs: Rootfs, spec: Spec, fw: NonNullable<Spec["firewall"]>) {
  for (const args of ufwCommands(fw)) await fs.chroot(["ufw", ...args]);
  // ufw applies its own sysctl file when it starts, after systemd-sysctl (it turns
  // log_martians off, for one): the spec's values go there too, so they stay in force.
  if (spec.sysctl) {
    const lines = Object.entries(spec.sysctl).map(
      ([k, v]) => `${k.replaceAll(".", "/")}=${typeof v === "boolean" ? Number(v) : v}\n`,
    );
    await append(fs, "/etc/ufw/sysctl.conf", HEADER + lines.join(""));
  }
  // `ufw enable` would load the rules into the build host's kernel: mark it enabled instead;
  // ufw.service loads them at boot.
  const conf = await fs.read("/etc/ufw/ufw.conf");
  await fs.write("/etc/ufw/ufw.conf", conf.replace(/^ENABLED=.*$/m, "ENABLED=yes"));
  if (spec.init === "systemd") await fs.chroot(["systemctl", "enable", "ufw.service"]);
}

/** Leave out what `trim:` asks, after everything else is installed. */
export async function applyTrim(fs: Rootfs, spec: Spec): Promise<void> {
  const t = trimOptions(spec.trim);
  if (!t) return;
  await fs.write("/etc/dpkg/dpkg.cfg.d/90-plinth-trim", renderDpkgTrim(t), { mode: 0o644 });
  const keep = (p: string) => p.endsWith("/copyright") || p.endsWith("/locale.alias");
  const dirs = [
    ...(t.docs ? ["/usr/share/doc", "/usr/share/info"] : []),
    ...(t.man ? ["/usr/share/man"] : []),
    ...(t.locales ? ["/usr/share/locale"] : []),
  ];
  for (const dir of dirs) await removeTree(fs.path(dir), keep);
  if (t.apt_lists) {
    await fs.chroot(["apt-get", "clean"]);
    await removeTree(fs.path("/var/lib/apt/lists"), (p) => p.endsWith("/lock"));
  }
}

/** Remove everything under `dir` except the files `keep` names (and the dirs holding them). */
async function removeTree(dir: string, keep: (p: string) => boolean): Promise<boolean> {
  let kept = false;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory() && !e.isSymbolicLink()) {
      if (await removeTree(p, keep)) kept = true;
      else await rm(p, { recursive: true, force: true });
    } else if (keep(p)) kept = true;
    else await rm(p, { force: true });
  }
  return kept;
}

async function append(fs: Rootfs, file: string, text: string): Promise<void> {
  const old = existsSync(fs.path(file)) ? await fs.read(file) : "";
  await fs.write(file, old + (old && !old.endsWith("\n") ? "\n" : "") + text);
}
