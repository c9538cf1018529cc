import { existsSync, readdirSync } from "node:fs";
import { mkdir, rm, rmdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { UserError } from "../errors.js";
import { noEvents, type EventSink } from "../events.js";
import { isValidName } from "../names.js";
import { plinthHome } from "../paths.js";
import { withPathLock } from "../store/lock.js";
import { inside } from "../util/safe-path.js";
import { readStateFile } from "../util/state-file.js";
import {
  formatCidr,
  formatIpv4,
  macFor,
  parseIpv4,
  parsePool,
  tapFor,
  type Pool,
} from "./address.js";
import { egressPolicy, type EgressPolicy } from "./egress.js";
import * as host from "./host.js";
import { baseRules, tableName, vmCleanup, vmRules, type VmNic } from "./nft.js";

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
}

const Lease = z.object({ vm: z.string(), tap: z.string(), mac: z.string() });
type Lease = z.infer<typeof Lease>;

/** `$PLINTH_HOME/net/<bridge>/network.json`: what plinth made, and who holds which address. */
const NetworkSchema = z.object({
  bridge: z.string(),
  subnet: z.string(),
  /** The network namespace it lives in (nsfs inode): another namespace's objects are not touched. */
  netns: z.number().int(),
  /** IPv4 forwarding before plinth turned it on; `net down` puts back a "0". */
  forwardingBefore: z.enum(["0", "1"]),
  /** By address. */
  leases: z.record(z.string(), Lease),
});
type Network = z.infer<typeof NetworkSchema>;

export function netDir(): string {
  return path.join(plinthHome(), "net");
}

const BRIDGE_NAME = /^[a-zA-Z][a-zA-Z0-9_]{0,14}$/;

function stateDir(bridge: string): string {
  return inside(netDir(), bridge);
}

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
  const { resolvers } = o;
  const isLive = live(o.isLive);
  const { bridge } = plan;
  return locked(bridge, async () => {
    const here = host.netnsId();
    const exists = await host.linkExists(bridge);
    let net = readNetwork(bridge);
    if (net && net.netns !== here) {
      const running = liveLeases(net, isLive, vm);
      if (running.length || exists) throw otherNamespace(bridge, running);
      net = undefined; // its namespace is gone: nothing of it is here to clean
    }
    if (exists && !net)
      throw new UserError(
        "BRIDGE_FOREIGN",
        `The bridge ${bridge} exists and plinth did not make it.`,
        {
          hint: "Pick another --bridge, or remove that bridge if it is a leftover.",
        },
      );
    if (net && plan.subnetGiven && net.subnet !== formatCidr(plan.pool.subnet))
      throw new UserError(
        "BRIDGE_SUBNET",
        `The bridge ${bridge} already uses ${net.subnet}, not ${formatCidr(plan.pool.subnet)}.`,
        {
          hint: `Drop --subnet, pick another --bridge, or \`plinth net down --bridge ${bridge}\` first.`,
        },
      );
    net ??= {
      bridge,
      subnet: formatCidr(plan.pool.subnet),
      netns: here,
      forwardingBefore: host.forwarding(),
      leases: {},
    };
    // Recorded before the bridge is made: what plinth made is never left unrecorded.
    await writeNetwork(net);
    await sweep(net, (l) => l.vm === vm || !isLive(l.vm));
    const pool = parsePool(net.subnet);
    if (!exists) {
      await host.createBridge(bridge, `${formatIpv4(pool.gateway)}/${pool.subnet.prefix}`);
      emit({ type: "log", level: "info", message: `made bridge ${bridge} (${net.subnet})` });
    }
    const t = tableName(bridge);
    if (!(await host.nftTableExists("ip", t)) || !(await host.nftTableExists("bridge", t))) {
      for (const family of ["ip", "bridge"]) await host.nftTry(["delete", "table", family, t]);
      await host.nftApply(baseRules(bridge, pool));
    }
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
      resolvers,
      restricted: plan.egress.deny !== "none",
    };
    // Leased before the TAP is made: a plinth killed in between leaves a lease to sweep.
    net.leases[formatIpv4(ip)] = { vm, tap: nic.tap, mac: nic.mac };
    await writeNetwork(net);
    try {
      await host.createTap(nic.tap, bridge);
      await host.nftApply(vmRules(bridge, nic, plan.egress, resolvers));
    } catch (error) {
      await sweep(net, (l) => l.vm === vm);
      throw error;
    }
    return nic;
  });
}

/** Free what VM `vm` holds on `bridge`: its TAP, its rules, its lease. */
export async function releaseBridge(vm: string, bridge: string): Promise<void> {
  if (!existsSync(path.join(stateDir(bridge), "network.json"))) return;
  await locked(bridge, async () => {
    const net = readNetwork(bridge);
    // Another namespace's TAPs are out of reach; its next start or `net down` frees them.
    if (!net || net.netns !== host.netnsId()) return;
    await sweep(net, (l) => l.vm === vm);
  });
}

export interface NetDownReport {
  bridge: string;
  /** False when there was nothing of plinth's to remove. */
  removed: boolean;
  /** The VMs whose leases were freed (a killed plinth's). */
  freed: string[];
  taps: string[];
  forwardingRestored: boolean;
}

/**
 * Remove plinth's bridge and everything on it: TAPs, both nft tables, the leases, and
 * the forwarding plinth turned on. Refused while a VM on it runs.
 */
export async function netDown(bridge: string, vmIsLive: IsLive): Promise<NetDownReport> {
  planBridge({ bridge });
  const isLive = live(vmIsLive);
  return locked(bridge, async () => {
    const net = readNetwork(bridge);
    if (!net) {
      if (await host.linkExists(bridge))
        throw new UserError(
          "BRIDGE_FOREIGN",
          `The bridge ${bridge} exists and plinth did not make it.`,
          {
            hint: "plinth removes only what it made: remove that bridge by hand if it is a leftover.",
          },
        );
      return { bridge, removed: false, freed: [], taps: [], forwardingRestored: false };
    }
    const running = liveLeases(net, isLive);
    if (net.netns !== host.netnsId()) throw otherNamespace(bridge, running);
    if (running.length)
      throw new UserError("NET_BUSY", `VMs still run on ${bridge}: ${running.join(", ")}.`, {
        hint: "Stop them first (`plinth stop NAME`).",
      });
    const freed = Object.values(net.leases).map((l) => l.vm);
    const taps = Object.values(net.leases).map((l) => l.tap);
    await sweep(net, () => true);
    // A TAP made by a plinth killed before it recorded it: named as plinth names them.
    for (const port of await host.bridgePorts(bridge))
      if (/^pt[0-9a-f]{8}$/.test(port)) {
        await host.deletePort(port, bridge);
        taps.push(port);
      }
    for (const family of ["ip", "bridge"])
      await host.nftTry(["delete", "table", family, tableName(bridge)]);
    await host.deleteLink(bridge);
    const restore =
      net.forwardingBefore === "0" && host.forwarding() === "1" && !(await otherPlinthTables());
    if (restore) host.setForwarding(false);
    const dir = stateDir(bridge);
    await rm(path.join(dir, "network.json"), { force: true });
    await rmdir(dir).catch(() => undefined);
    return { bridge, removed: true, freed, taps: [...new Set(taps)], forwardingRestored: restore };
  });
}

/** The bridges plinth made (in this PLINTH_HOME) and their leases, for `plinth net ls`. */
export function listNetworks(): (Network & { here: boolean })[] {
  if (!existsSync(netDir())) return [];
  const here = host.netnsId();
  return readdirSync(netDir())
    .filter((b) => BRIDGE_NAME.test(b) && existsSync(path.join(stateDir(b), "network.json")))
    .map((b) => {
      const n = readNetwork(b)!;
      return { ...n, here: n.netns === here };
    });
}

async function sweep(net: Network, which: (l: Lease) => boolean): Promise<void> {
  let changed = false;
  for (const [addr, lease] of Object.entries(net.leases)) {
    if (!which(lease)) continue;
    const nic = { ip: parseIpv4(addr)!, tap: lease.tap, mac: lease.mac };
    for (const cmd of vmCleanup(net.bridge, nic)) await host.nftTry(cmd);
    await host.deletePort(lease.tap, net.bridge);
    delete net.leases[addr];
    changed = true;
  }
  if (changed) await writeNetwork(net);
}

/** Whether VM `name` still holds what it leased (its VMM or its plinth alive): vm/state's. */
export type IsLive = (name: string) => boolean;

/** Only names plinth could have written are asked about. */
const live =
  (isLive: IsLive): IsLive =>
  (vm) =>
    isValidName(vm) && isLive(vm);

function liveLeases(net: Network, isLive: IsLive, except?: string): string[] {
  return Object.values(net.leases)
    .map((l) => l.vm)
    .filter((vm) => vm !== except && isLive(vm));
}

function otherNamespace(bridge: string, live: string[]): UserError {
  return new UserError(
    "NET_OTHER_NS",
    `The bridge ${bridge} of this PLINTH_HOME lives in another network namespace${live.length ? `, with VMs running: ${live.join(", ")}` : ""}.`,
    { hint: "Run plinth in that namespace, or give this one another --bridge." },
  );
}

async function otherPlinthTables(): Promise<boolean> {
  return /^table ip plinth_/m.test((await host.nftTables()) ?? "");
}

function locked<T>(bridge: string, fn: () => Promise<T>): Promise<T> {
  return withPathLock(
    stateDir(bridge),
    { code: "NET_LOCKED", message: `The bridge ${bridge} is busy: another plinth is changing it.` },
    fn,
  );
}

function readNetwork(bridge: string): Network | undefined {
  const file = path.join(stateDir(bridge), "network.json");
  if (!existsSync(file)) return undefined;
  return readStateFile(file, NetworkSchema, `state of bridge ${bridge}`, {
    hint: `Remove ${file} once nothing runs on ${bridge}.`,
  });
}

async function writeNetwork(net: Network): Promise<void> {
  const file = path.join(stateDir(net.bridge), "network.json");
  const tmp = `${file}.${process.pid}.tmp`;
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(tmp, JSON.stringify(net, null, 2) + "\n");
  await rename(tmp, file);
}
