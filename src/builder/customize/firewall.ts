import type { Spec } from "../../spec/schema.js";
import type { Rootfs } from "./rootfs.js";
import { HEADER } from "./text.js";

type Firewall = NonNullable<Spec["firewall"]>;

/** An nftables ruleset in its own table: default policies plus the allowed ports. */
export function renderNftables(fw: Firewall): string {
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

/** ufw's own commands as arguments, one rule each (`ufw allow …` only edits files offline). */
export function ufwCommands(fw: Firewall): string[][] {
  const port = (p: number | string) => String(p).replace("-", ":"); // ufw writes ranges a:b
  return [
    ["default", fw.incoming, "incoming"],
    ["default", fw.outgoing, "outgoing"],
    ...fw.allow.map((a) =>
      a.from
        ? ["allow", "from", a.from, "to", "any", "port", port(a.port), "proto", a.proto]
        : ["allow", `${port(a.port)}/${a.proto}`],
    ),
  ];
}

async function applyUfw(fs: Rootfs, spec: Spec, fw: Firewall) {
  for (const args of ufwCommands(fw)) await fs.chroot(["ufw", ...args]);
  // ufw applies its own sysctl file when it starts, after systemd-sysctl (it turns
  // log_martians off, for one): the spec's values go there too, so they stay in force.
  if (spec.sysctl) {
    const lines = Object.entries(spec.sysctl).map(
      ([k, v]) => `${k.replaceAll(".", "/")}=${typeof v === "boolean" ? Number(v) : v}\n`,
    );
    await fs.append("/etc/ufw/sysctl.conf", HEADER + lines.join(""));
  }
  // `ufw enable` would load the rules into the build host's kernel: mark it enabled instead;
  // ufw.service loads them at boot.
  const conf = await fs.read("/etc/ufw/ufw.conf");
  await fs.write("/etc/ufw/ufw.conf", conf.replace(/^ENABLED=.*$/m, "ENABLED=yes"));
  if (spec.init === "systemd") await fs.chroot(["systemctl", "enable", "ufw.service"]);
}

/** The spec's firewall, with the backend it names. */
export async function applyFirewall(fs: Rootfs, spec: Spec, fw: Firewall): Promise<void> {
  if (fw.backend === "ufw") return applyUfw(fs, spec, fw);
  await fs.write("/etc/nftables.conf", renderNftables(fw), { mode: 0o755 });
  if (spec.init === "systemd") await fs.chroot(["systemctl", "enable", "nftables.service"]);
}
