import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import type { Spec } from "../../spec/schema.js";
import type { Rootfs } from "./rootfs.js";

/**
 * The spec's system-configuration sections, each rendered the way Debian expects it:
 * drop-in files where the daemon reads a directory, plinth's own block elsewhere. Pure
 * render functions (tested on their text) and one apply step that writes them.
 */

const HEADER = "# Written by plinth from the image spec.\n";

type Scalar = string | number | boolean;

export function renderSshd(ssh: NonNullable<Spec["ssh"]>): string {
  const value = (v: Scalar | string[]) =>
    Array.isArray(v) ? v.join(" ") : typeof v === "boolean" ? (v ? "yes" : "no") : String(v);
  return (
    HEADER +
    Object.entries(ssh)
      .map(([k, v]) => `${k} ${value(v)}\n`)
      .join("")
  );
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

export function renderJournald(journald: NonNullable<Spec["journald"]>): string {
  const v = (x: Scalar) => (typeof x === "boolean" ? (x ? "yes" : "no") : String(x));
  return (
    HEADER +
    "[Journal]\n" +
    Object.entries(journald)
      .map(([k, x]) => `${k}=${v(x)}\n`)
      .join("")
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
    await fs.write("/etc/systemd/journald.conf.d/90-plinth.conf", renderJournald(spec.journald), {
      mode: 0o644,
    });
  }
  if (spec.mounts?.length) await append(fs, "/etc/fstab", renderFstabEntries(spec.mounts));
  if (spec.environment) await append(fs, "/etc/environment", renderEnvironment(spec.environment));
  if (spec.dns?.length) {
    await rm(fs.path("/etc/resolv.conf"), { force: true }); // may be a symlink to a resolver's
    await fs.write("/etc/resolv.conf", renderResolvConf(spec.dns), { mode: 0o644 });
  }
  if (spec.firewall) {
    await fs.write("/etc/nftables.conf", renderNftables(spec.firewall), { mode: 0o755 });
    if (spec.init === "systemd") await fs.chroot(["systemctl", "enable", "nftables.service"]);
  }
}

async function append(fs: Rootfs, file: string, text: string): Promise<void> {
  const old = existsSync(fs.path(file)) ? await fs.read(file) : "";
  await fs.write(file, old + (old && !old.endsWith("\n") ? "\n" : "") + text);
}
