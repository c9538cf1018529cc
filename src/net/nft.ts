import { formatCidr, formatIpv4, type Pool } from "./address.js";
import type { EgressPolicy, EgressRule } from "./egress.js";

/**
 * plinth's nftables rules for one bridge, in two tables of its own (named for the bridge,
 * so `net down` removes exactly them):
 *
 * - `ip plinth_<bridge>`: masquerade of the pool to any other interface (the uplink,
 *   whichever it is), and each restricted VM's egress chain, reached by source address
 *   from `forward` (to the world) and `input` (to the host itself), with conntrack so
 *   replies and connections made *to* the VM pass.
 * - `bridge plinth_<bridge>`: on each VM's TAP, frames must carry that VM's MAC and IPv4
 *   address (ARP's sender too; nothing but IPv4 and ARP): root in the guest cannot take
 *   another address and slip past its rules. A restricted VM's frames to other VMs on
 *   the bridge never reach the `ip` hooks: they pass only where a rule allows (ARP
 *   aside). No bridge conntrack is assumed, so a restricted VM cannot answer a peer it
 *   has no rule for either; the host (which routes) still reaches it.
 */
export function tableName(bridge: string): string {
  return `plinth_${bridge}`;
}

export interface VmNic {
  ip: number;
  mac: string;
  tap: string;
}

export function baseRules(bridge: string, pool: Pool): string {
  const t = tableName(bridge);
  return `table ip ${t} {
  map egress { type ipv4_addr : verdict; }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr ${formatCidr(pool.subnet)} oifname != "${bridge}" masquerade
  }
  chain forward { type filter hook forward priority filter; policy accept; ip saddr vmap @egress; }
  chain input { type filter hook input priority filter; policy accept; ip saddr vmap @egress; }
}
table bridge ${t} {
  map ports { type ifname : verdict; }
  map peers { type ifname : verdict; }
  chain prerouting { type filter hook prerouting priority filter; policy accept; iifname vmap @ports; }
  chain forward { type filter hook forward priority filter; policy accept; iifname vmap @peers; }
}
`;
}

/** Prepended to baseRules in one `nft -f`: the bridge's tables go, whatever is left of them. */
export function replaceTables(bridge: string): string {
  const t = tableName(bridge);
  return ["ip", "bridge"].map((f) => `add table ${f} ${t}\ndelete table ${f} ${t}\n`).join("");
}

/** One VM's chains and map entries, as one `nft -f` transaction. */
export function vmRules(
  bridge: string,
  vm: VmNic,
  policy: EgressPolicy,
  resolvers: string[],
): string {
  const t = tableName(bridge);
  const ip = formatIpv4(vm.ip);
  const lines = [
    ...chain("bridge", t, `port_${vm.tap}`),
    ...[
      `ether saddr != ${vm.mac} drop`,
      `ether type arp arp saddr ether != ${vm.mac} drop`,
      `ether type arp arp saddr ip != ${ip} drop`,
      `ether type ip ip saddr != ${ip} drop`,
      `ether type != { ip, arp } drop`,
    ].map((r) => `add rule bridge ${t} port_${vm.tap} ${r}`),
    `add element bridge ${t} ports { "${vm.tap}" : jump port_${vm.tap} }`,
  ];
  if (policy.deny === "none") return lines.join("\n") + "\n";
  const allowed = policy.allow.flatMap(accept);
  if (policy.deny === "other")
    allowed.unshift(
      ...resolvers.flatMap((r) => accept({ to: `${r}/32`, ports: { from: 53, to: 53 } })),
    );
  lines.push(
    ...chain("bridge", t, `peer_${vm.tap}`),
    ...["ether type arp accept", ...allowed, "drop"].map(
      (r) => `add rule bridge ${t} peer_${vm.tap} ${r}`,
    ),
    `add element bridge ${t} peers { "${vm.tap}" : jump peer_${vm.tap} }`,
    ...chain("ip", t, `vm_${vm.tap}`),
    ...[
      "ct state established,related accept",
      ...allowed,
      // Refused at once rather than left to time out.
      "meta l4proto tcp reject with tcp reset",
      "reject with icmp type admin-prohibited",
    ].map((r) => `add rule ip ${t} vm_${vm.tap} ${r}`),
    `add element ip ${t} egress { ${ip} : jump vm_${vm.tap} }`,
  );
  return lines.join("\n") + "\n";
}

/** A chain made empty whether or not it was there (a leftover must not keep old rules). */
function chain(family: string, table: string, name: string): string[] {
  return [`add chain ${family} ${table} ${name}`, `flush chain ${family} ${table} ${name}`];
}

function accept(rule: EgressRule): string[] {
  const to = rule.to.endsWith("/32") ? rule.to.slice(0, -3) : rule.to;
  if (!rule.ports) return [`ip daddr ${to} accept`];
  const p = rule.ports;
  const ports = p.from === p.to ? String(p.from) : `${p.from}-${p.to}`;
  return ["tcp", "udp"].map((proto) => `ip daddr ${to} ${proto} dport ${ports} accept`);
}

/**
 * Commands that remove one VM's rules, each on its own: a part already gone (a killed
 * plinth's half-made VM) must not keep the rest from going.
 */
export function vmCleanup(bridge: string, vm: VmNic): string[][] {
  const t = tableName(bridge);
  return [
    ["delete", "element", "ip", t, "egress", `{ ${formatIpv4(vm.ip)} }`],
    ["delete", "chain", "ip", t, `vm_${vm.tap}`],
    ["delete", "element", "bridge", t, "peers", `{ "${vm.tap}" }`],
    ["delete", "chain", "bridge", t, `peer_${vm.tap}`],
    ["delete", "element", "bridge", t, "ports", `{ "${vm.tap}" }`],
    ["delete", "chain", "bridge", t, `port_${vm.tap}`],
  ];
}
