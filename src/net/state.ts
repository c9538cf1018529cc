import { existsSync, readdirSync } from "node:fs";
import { mkdir, rename, rm, rmdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { plinthHome } from "../paths.js";
import { withPathLock } from "../store/lock.js";
import { inside } from "../util/safe-path.js";
import { readStateFile } from "../util/state-file.js";
import { parseIpv4, tryCidr } from "./address.js";
import { netnsId } from "./host.js";

const ipv4 = z.string().refine((s) => parseIpv4(s) !== undefined, "not an IPv4 address");
/** A random id: the bridge's (its devices carry it as their alias) or a lease's. */
const ID = /^[0-9a-f]{16}$/;
/** How plinth names its TAPs (address.ts, tapFor). */
export const TAP_NAME = /^pt[0-9a-f]{8}$/;

// Every field that reaches an `ip` or `nft` command is checked again when read back.
const Lease = z.object({
  /** This lease, not another of a later VM of the same name, is what the VM's stop frees. */
  id: z.string().regex(ID),
  vm: z.string(),
  tap: z.string().regex(TAP_NAME),
  mac: z.string().regex(/^02:70:6c(:[0-9a-f]{2}){3}$/),
  /** Kept so that the VM's rules can be made again if the tables are (a firewall reload). */
  egress: z.object({
    allow: z.array(
      z.object({
        to: z.string().refine((s) => tryCidr(s) !== undefined, "not an IPv4 network"),
        ports: z.object({ from: z.number().int(), to: z.number().int() }).optional(),
      }),
    ),
    deny: z.enum(["none", "other", "all"]),
  }),
  resolvers: z.array(ipv4),
});
export type Lease = z.infer<typeof Lease>;

/** What plinth made for one bridge, and who holds which address (by address). */
const NetworkSchema = z.object({
  /** The mark on the bridge and its TAPs (`ip link … alias plinth:<id>`): what proves them plinth's. */
  id: z.string().regex(ID),
  bridge: z.string(),
  subnet: z.string(),
  /** IPv4 forwarding before plinth turned it on; `net down` puts back a "0". */
  forwardingBefore: z.enum(["0", "1"]),
  leases: z.record(z.string(), Lease),
});
export type Network = z.infer<typeof NetworkSchema>;

export function netDir(): string {
  return path.join(plinthHome(), "net");
}

/**
 * `$PLINTH_HOME/net/<netns>/<bridge>/`: a bridge, its TAPs and rules live in one network
 * namespace (this process's, by its nsfs inode), so their state does too: a plinth in
 * another namespace sees none of it and touches none of it.
 */
function stateDir(bridge: string, ns = netnsId()): string {
  return inside(netDir(), path.join(String(ns), bridge));
}

const file = (bridge: string) => path.join(stateDir(bridge), "network.json");

export function hasNetwork(bridge: string): boolean {
  return existsSync(file(bridge));
}

export function readNetwork(bridge: string): Network | undefined {
  if (!hasNetwork(bridge)) return undefined;
  return readStateFile(file(bridge), NetworkSchema, `state of bridge ${bridge}`, {
    hint: `Remove ${file(bridge)} once nothing runs on ${bridge}.`,
  });
}

export async function writeNetwork(net: Network): Promise<void> {
  const f = file(net.bridge);
  const tmp = `${f}.${process.pid}.tmp`;
  await mkdir(path.dirname(f), { recursive: true });
  await writeFile(tmp, JSON.stringify(net, null, 2) + "\n");
  await rename(tmp, f);
}

export async function removeNetworkState(bridge: string): Promise<void> {
  await rm(file(bridge), { force: true });
  await rmdir(stateDir(bridge)).catch(() => undefined);
  await rmdir(path.dirname(stateDir(bridge))).catch(() => undefined);
}

/**
 * Run `fn` holding the lock of this namespace's bridges (`<netns dir>.lock`): leases are
 * taken in turn, and two new bridges cannot both pass the overlap check on one pool.
 */
export function withNetworkLock<T>(bridge: string, fn: () => Promise<T>): Promise<T> {
  return withPathLock(
    path.dirname(stateDir(bridge)),
    { code: "NET_LOCKED", message: `The bridge ${bridge} is busy: another plinth is changing it.` },
    fn,
  );
}

/** Every bridge's state in this PLINTH_HOME, with whether it is this namespace's. */
export function allNetworks(names: RegExp): (Network & { here: boolean })[] {
  if (!existsSync(netDir())) return [];
  const here = String(netnsId());
  return readdirSync(netDir())
    .filter((ns) => /^\d+$/.test(ns))
    .flatMap((ns) =>
      readdirSync(path.join(netDir(), ns))
        .filter((b) => names.test(b))
        .flatMap((b) => {
          const f = path.join(netDir(), ns, b, "network.json");
          if (!existsSync(f)) return [];
          const n = readStateFile(f, NetworkSchema, `state of bridge ${b}`, {
            hint: `Remove ${f} once nothing runs on ${b}.`,
          });
          return [{ ...n, here: ns === here }];
        }),
    );
}
