import { randomBytes } from "node:crypto";
import { UserError } from "../errors.js";
import { noEvents, type EventSink } from "../events.js";
import { isValidName } from "../names.js";
import {
  formatCidr,
  formatIpv4,
  macFor,
  overlaps,
  parseIpv4,
  parsePool,
  tapFor,
  tryCidr,
  type Cidr,
  type Pool,
} from "./address.js";
import { egressPolicy, type EgressPolicy } from "./egress.js";
import * as host from "./host.js";
import { baseRules, replaceTables, tableName, vmCleanup, vmRules, type VmNic } from "./nft.js";
import {
  allNetworks,
  hasNetwork,
  readNetwork,
  removeNetworkState,
  TAP_NAME,
  withNetworkLock,
  writeNetwork,
  type Lease,
  type Network,
} from "./state.js";

export { netDir } from "./state.js";

export const DEFAULT_BRIDGE = "plinth0";
export const DEFAULT_SUBNET = "10.213.0.0/24";

/** `--net bridge` as asked for: checked before anything is made (planBridge). */
export interface BridgeOptions {
  /** The host bridge (default plinth0): made by plinth, shared by its VMs. */
  bridge?: string;
  /** The bridge's address pool (default 10.213.0.0/24); fixed by the bridge's first VM. */
  subnet?: string;
  /** The guest's resolvers (default: the image's `dns`, else the host's non-loopback ones). */
  dns?: string[];
  /** `ADDR[/PREFIX][:PORT[-PORT]]` the VM may connect to; all else is refused. */
  allowEgress?: string[];
  /** `other` (the default with any allow): all but the rules and DNS; `all`: DNS too. */
  denyEgress?: "other" | "all";
}

export interface BridgePlan {
  bridge: string;
  pool: Pool;
  subnetGiven: boolean;
  dns?: string[];
  egress: EgressPolicy;
}

/** A VM's place on the bridge, and what its kernel command line tells the guest. */
export interface BridgeNic extends VmNic {
  bridge: string;
  prefix: number;
  gateway: number;
  resolvers: string[];
  restricted: boolean;
  /** The lease's id: releaseBridge frees this lease and no later one of the same VM name. */
  lease: string;
}

/** Whether VM `name` still holds what it leased (its VMM or its plinth alive): vm/state's. */
export type IsLive = (name: string) => boolean;

const BRIDGE_NAME = /^[a-zA-Z][a-zA-Z0-9_]{0,14}$/;

/** The alias plinth gives the bridge and TAPs it makes: a device without it is not plinth's. */
const markOf = (net: Network) => `plinth:${net.id}`;
const newId = () => randomBytes(8).toString("hex");

export function planBridge(o: BridgeOptions): BridgePlan {
  const bridge = o.bridge ?? DEFAULT_BRIDGE;
  if (!BRIDGE_NAME.test(bridge))
    throw new UserError("BAD_BRIDGE", `"${bridge}" is not a bridge name plinth makes.`, {
      hint: "Use 1-15 letters, digits or '_', starting with a letter (e.g. plinth0).",
    });
  for (const d of o.dns ?? [])
    if (parseIpv4(d) === undefined)
      throw new UserError("BAD_DNS", `The resolver "${d}" is not an IPv4 address.`, {
        hint: "Give --dns as A[,B…], e.g. --dns 192.0.2.53.",
      });
  return {
    bridge,
    pool: parsePool(o.subnet ?? DEFAULT_SUBNET),
    subnetGiven: o.subnet !== undefined,
    dns: o.dns,
    egress: egressPolicy(o.allowEgress, o.denyEgress),
  };
}

/** What the guest's plinth guest-config reads from the kernel command line. */
export function nicCmdline(nic: BridgeNic): string {
  return [
    `plinth.ip=${formatIpv4(nic.ip)}/${nic.prefix}`,
    `plinth.gateway=${formatIpv4(nic.gateway)}`,
    ...(nic.resolvers.length ? [`plinth.dns=${nic.resolvers.join(",")}`] : []),
  ].join(" ");
}

/**
 * Put VM `vm` on its bridge: make the bridge, its NAT and base rules if they are not
 * there, lease the first free address, make its TAP and its rules. Leases of VMs that
 * are gone (a killed plinth's) are freed first. All under the bridge's lock.
 */
export async function attachBridge(
  vm: string,
  plan: BridgePlan,
  o: { resolvers: string[]; isLive: IsLive; onEvent?: EventSink },
): Promise<BridgeNic> {
  const emit = o.onEvent ?? noEvents;
  const { bridge } = plan;
  const isLive = live(o.isLive);
  return withNetworkLock(bridge, async () => {
    const dev = await host.link(bridge);
    const exists = dev !== undefined;
    let net = readNetwork(bridge);
    // The state alone proves nothing (a reboot, a namespace id reused): the device must
    // carry the mark plinth gave it.
    if (dev && (!net || dev.ifalias !== markOf(net)))
      throw foreignBridge(bridge, "Pick another --bridge.");
    if (net && plan.subnetGiven && net.subnet !== formatCidr(plan.pool.subnet))
      throw new UserError(
        "BRIDGE_SUBNET",
        `The bridge ${bridge} already uses ${net.subnet}, not ${formatCidr(plan.pool.subnet)}.`,
        {
          hint: `Drop --subnet, pick another --bridge, or \`plinth net down --bridge ${bridge}\` first.`,
        },
      );
    net ??= {
      id: newId(),
      bridge,
      subnet: formatCidr(plan.pool.subnet),
      forwardingBefore: host.forwarding(),
      leases: {},
    };
    const pool = parsePool(net.subnet);
    if (!exists) await refuseOverlap(pool.subnet);
    // Recorded before the bridge is made: what plinth made is never left unrecorded.
    await writeNetwork(net);
    await sweep(net, (l) => l.vm === vm || !isLive(l.vm));
    if (!exists) {
      await host.createBridge(bridge, markOf(net));
      emit({ type: "log", level: "info", message: `made bridge ${bridge} (${net.subnet})` });
    }
    await host.bridgeUp(bridge, `${formatIpv4(pool.gateway)}/${pool.subnet.prefix}`);
    await ensureTables(net, pool, emit);
    if (host.forwarding() === "0") {
      host.setForwarding(true);
      emit({
        type: "log",
        level: "warn",
        message: "turned on IPv4 forwarding for NAT (`plinth net down` turns it off again)",
      });
    }
    let ip = pool.first;
    while (ip <= pool.last && net.leases[formatIpv4(ip)]) ip++;
    if (ip > pool.last)
      throw new UserError("POOL_FULL", `Every address of ${net.subnet} on ${bridge} is leased.`, {
        hint: "Stop a VM on it, or put VMs on another --bridge with its own --subnet.",
      });
    const nic: BridgeNic = {
      bridge,
      ip,
      mac: macFor(ip),
      tap: tapFor(ip),
      prefix: pool.subnet.prefix,
      gateway: pool.gateway,
      resolvers: o.resolvers,
      restricted: plan.egress.deny !== "none",
      lease: newId(),
    };
    if (await host.link(nic.tap))
      throw new UserError(
        "TAP_FOREIGN",
        `A network device named ${nic.tap} exists and plinth did not make it for ${bridge}.`,
        { hint: "Remove it if it is a leftover, or use another --bridge with its own --subnet." },
      );
    // Leased before the TAP is made: a plinth killed in between leaves a lease to sweep.
    const addr = formatIpv4(ip);
    net.leases[addr] = {
      id: nic.lease,
      vm,
      tap: nic.tap,
      mac: nic.mac,
      egress: plan.egress,
      resolvers: o.resolvers,
    };
    await writeNetwork(net);
    try {
      await host.forgetConnections(addr);
      await host.createTap(nic.tap, bridge, markOf(net));
      await host.nftApply(vmRules(bridge, nic, plan.egress, o.resolvers));
    } catch (error) {
      await sweep(net, (l) => l.id === nic.lease);
      throw error;
    }
    return nic;
  });
}

/** Free lease `lease` on `bridge` in this namespace: its TAP, its rules, its address. */
export async function releaseBridge(bridge: string, lease: string): Promise<void> {
  const holds = (n?: Network) => Object.values(n?.leases ?? {}).some((l) => l.id === lease);
  // Most calls find nothing (a stop after the VM's own release): no lock for those.
  if (!hasNetwork(bridge) || !holds(readNetwork(bridge))) return;
  await withNetworkLock(bridge, async () => {
    const net = readNetwork(bridge);
    if (net) await sweep(net, (l) => l.id === lease);
  });
}

export interface NetDownReport {
  bridge: string;
  /** False when there was nothing of plinth's to remove. */
  removed: boolean;
  /** The VMs whose leases were freed (a killed plinth's). */
  freed: string[];
  taps: string[];
  /** A device of the bridge's name without plinth's mark (made by someone else since): kept. */
  keptForeign: boolean;
  forwardingRestored: boolean;
}

/**
 * Remove plinth's bridge and everything on it: TAPs, both nft tables, the leases, and
 * the forwarding plinth turned on (unless another bridge here may need it). Refused
 * while a VM on it runs.
 */
export async function netDown(bridge: string, vmIsLive: IsLive): Promise<NetDownReport> {
  planBridge({ bridge });
  const isLive = live(vmIsLive);
  return withNetworkLock(bridge, async () => {
    const net = readNetwork(bridge);
    if (!net) {
      if (await host.link(bridge))
        throw foreignBridge(bridge, "plinth removes only what it made: remove it by hand.");
      return {
        bridge,
        removed: false,
        freed: [],
        taps: [],
        keptForeign: false,
        forwardingRestored: false,
      };
    }
    const running = Object.values(net.leases)
      .map((l) => l.vm)
      .filter(isLive);
    if (running.length)
      throw new UserError("NET_BUSY", `VMs still run on ${bridge}: ${running.join(", ")}.`, {
        hint: "Stop them first (`plinth stop NAME`).",
      });
    const freed = Object.values(net.leases).map((l) => l.vm);
    const taps = Object.values(net.leases).map((l) => l.tap);
    await sweep(net, () => true);
    const mark = markOf(net);
    // A TAP a killed plinth made but had not recorded: a port of this bridge with its mark.
    for (const port of await host.bridgePorts(bridge))
      if (TAP_NAME.test(port) && (await host.deletePort(port, bridge, mark))) taps.push(port);
    await dropTables(bridge);
    const keptForeign = (await host.deleteLink(bridge, mark)) === "foreign";
    const others = (await host.bridges()).length > 0 || (await otherPlinthTables());
    const restore = net.forwardingBefore === "0" && host.forwarding() === "1" && !others;
    if (restore) host.setForwarding(false);
    await removeNetworkState(bridge);
    return {
      bridge,
      removed: true,
      freed,
      taps: [...new Set(taps)],
      keptForeign,
      forwardingRestored: restore,
    };
  });
}

/** The bridges plinth made (in this PLINTH_HOME, any namespace) and their leases. */
export function listNetworks(): (Network & { here: boolean })[] {
  return allNetworks(BRIDGE_NAME);
}

/** Free leases (and their TAPs, rules and connections) of the VMs `which` picks. */
async function sweep(net: Network, which: (l: Lease) => boolean): Promise<void> {
  let changed = false;
  for (const [addr, lease] of Object.entries(net.leases)) {
    if (!which(lease)) continue;
    const nic = { ip: parseIpv4(addr)!, tap: lease.tap, mac: lease.mac };
    for (const cmd of vmCleanup(net.bridge, nic)) await host.nftTry(cmd);
    await host.deletePort(lease.tap, net.bridge, markOf(net));
    await host.forgetConnections(addr);
    delete net.leases[addr];
    changed = true;
  }
  if (changed) await writeNetwork(net);
}

/**
 * The bridge's two tables. Gone while VMs hold leases (`nft flush ruleset`, a firewall
 * reload) they are made again with every VM's rules: a VM never runs unfiltered.
 */
async function ensureTables(net: Network, pool: Pool, emit: EventSink): Promise<void> {
  const t = tableName(net.bridge);
  if ((await host.nftTableExists("ip", t)) && (await host.nftTableExists("bridge", t))) return;
  const vms = Object.entries(net.leases).map(([addr, l]) =>
    vmRules(net.bridge, { ip: parseIpv4(addr)!, tap: l.tap, mac: l.mac }, l.egress, l.resolvers),
  );
  // One transaction: what is left of the old tables goes as the new ones come, so no
  // VM runs unfiltered in between, nor after a failed apply.
  await host.nftApply(replaceTables(net.bridge) + baseRules(net.bridge, pool) + vms.join(""));
  if (vms.length)
    emit({
      type: "log",
      level: "warn",
      message: `${net.bridge}'s nft tables were gone: made them again with the rules of ${vms.length} VM(s)`,
    });
}

async function dropTables(bridge: string): Promise<void> {
  for (const family of ["ip", "bridge"])
    await host.nftTry(["delete", "table", family, tableName(bridge)]);
}

/** A new bridge's pool must not take addresses this namespace already routes elsewhere. */
async function refuseOverlap(pool: Cidr): Promise<void> {
  for (const r of await host.routes()) {
    const dst = tryCidr(r.dst);
    if (dst && overlaps(pool, dst))
      throw new UserError(
        "SUBNET_IN_USE",
        `${formatCidr(pool)} overlaps ${r.dst}${r.dev ? ` on ${r.dev}` : ""}, which this host already routes.`,
        { hint: "Give the bridge another --subnet (and another --bridge if it is not new)." },
      );
  }
}

function foreignBridge(bridge: string, hint: string): UserError {
  return new UserError(
    "BRIDGE_FOREIGN",
    `The bridge ${bridge} exists and plinth did not make it.`,
    { hint },
  );
}

/** Only names plinth could have written are asked about. */
const live =
  (isLive: IsLive): IsLive =>
  (vm) =>
    isValidName(vm) && isLive(vm);

async function otherPlinthTables(): Promise<boolean> {
  return /^table ip plinth_/m.test((await host.nftTables()) ?? "");
}
