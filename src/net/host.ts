import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { run, tryRun } from "../host/exec.js";
import { parseIpv4 } from "./address.js";

/**
 * The host-side network operations plinth performs, each one `ip`, `nft` or `conntrack`
 * command in plinth's own network namespace (whichever it runs in).
 */
const ip = (args: string[]) => run(["ip", ...args], { stage: "network" });

/** `ip -j …`'s JSON (stdout only); undefined when the command fails (no such device). */
async function ipJson<T>(args: string[]): Promise<T[] | undefined> {
  try {
    return JSON.parse((await ip(["-j", ...args])) || "[]") as T[];
  } catch {
    return undefined;
  }
}

/** What plinth reads of a device: its alias (plinth's mark), bridge and kind. */
interface Link {
  ifalias?: string;
  master?: string;
  linkinfo?: { info_kind?: string };
}

/**
 * The device `name`, or undefined if there is none. Its kind comes from netlink (`-d`),
 * not /sys: a namespace entered without remounting /sys (unshare -n, nsenter) shows the
 * host's devices there.
 */
export async function link(name: string): Promise<Link | undefined> {
  return (await ipJson<Link>(["-d", "link", "show", "dev", name]))?.[0];
}

/**
 * Made and marked by one `ip -batch`: a plinth killed meanwhile cannot leave a device
 * without its mark (it would never be removed).
 */
const ipBatch = (lines: string[]) =>
  run(["ip", "-batch", "-"], { stage: "network", input: lines.join("\n") + "\n" });

export async function createBridge(name: string, mark: string): Promise<void> {
  await ipBatch([`link add name ${name} type bridge`, `link set dev ${name} alias ${mark}`]);
}

/** The bridge's address, and up: on every start, so a half-made or downed bridge heals. */
export async function bridgeUp(name: string, address: string): Promise<void> {
  await ipBatch([`addr replace ${address} dev ${name}`, `link set dev ${name} up`]);
}

/** A persistent TAP, a port of `bridge`: the VMM opens it by name and it outlives the VMM. */
export async function createTap(name: string, bridge: string, mark: string): Promise<void> {
  await ipBatch([
    `tuntap add dev ${name} mode tap`,
    `link set dev ${name} master ${bridge} alias ${mark} up`,
  ]);
}

/**
 * Delete `name` if it carries plinth's `mark`: anything else of that name is not
 * plinth's. Says which it was.
 */
export async function deleteLink(
  name: string,
  mark: string,
): Promise<"deleted" | "absent" | "foreign"> {
  const dev = await link(name);
  if (!dev) return "absent";
  if (dev.ifalias !== mark) return "foreign";
  await ip(["link", "delete", "dev", name]);
  return "deleted";
}

/**
 * Delete `name` if it is a TAP with plinth's `mark` that is a port of `bridge`, or of no
 * bridge (it fell off when the bridge went): anything else is not this bridge's to
 * remove. Whether it was deleted.
 */
export async function deletePort(name: string, bridge: string, mark: string): Promise<boolean> {
  const dev = await link(name);
  if (
    dev?.ifalias !== mark ||
    dev.linkinfo?.info_kind !== "tun" ||
    (dev.master !== undefined && dev.master !== bridge)
  )
    return false;
  await ip(["link", "delete", "dev", name]);
  return true;
}

/** The ports of `bridge` (its TAPs), by name. */
export async function bridgePorts(bridge: string): Promise<string[]> {
  return ((await ipJson<{ ifname: string }>(["link", "show", "master", bridge])) ?? []).map(
    (l) => l.ifname,
  );
}

/** Every bridge device in this namespace. */
export async function bridges(): Promise<string[]> {
  return ((await ipJson<{ ifname: string }>(["link", "show", "type", "bridge"])) ?? []).map(
    (l) => l.ifname,
  );
}

/** IPv4 routes other than the default one: `dst` (CIDR or address) and `dev`. */
export async function routes(): Promise<{ dst: string; dev?: string }[]> {
  return ((await ipJson<{ dst: string; dev?: string }>(["-4", "route", "show"])) ?? []).filter(
    (r) => r.dst !== "default",
  );
}

export async function nftApply(script: string): Promise<void> {
  await run(["nft", "-f", "-"], { stage: "network", input: script });
}

/** One nft command whose failure (the object is already gone) is not an error. */
export async function nftTry(args: string[]): Promise<void> {
  await tryRun(["nft", ...args]);
}

export async function nftTableExists(family: string, table: string): Promise<boolean> {
  return (await tryRun(["nft", "list", "table", family, table])) !== undefined;
}

export function nftTables(): Promise<string | undefined> {
  return tryRun(["nft", "list", "tables"]);
}

/**
 * Forget the connections of `address` (from it, and to it): a VM leasing it next must
 * not ride on its predecessor's `ct state established`. Nothing to forget is no error.
 */
export async function forgetConnections(address: string): Promise<void> {
  for (const dir of ["-s", "-d"]) await tryRun(["conntrack", "-D", dir, address]);
}

const FORWARDING = "/proc/sys/net/ipv4/ip_forward";

export function forwarding(): "0" | "1" {
  return readFileSync(FORWARDING, "utf8").trim() === "1" ? "1" : "0";
}

export function setForwarding(on: boolean): void {
  writeFileSync(FORWARDING, on ? "1\n" : "0\n");
}

/** This process's network namespace, as the inode of its nsfs file. */
export function netnsId(): number {
  return statSync("/proc/self/ns/net").ino;
}

export function hasTun(): boolean {
  return existsSync("/dev/net/tun");
}

/** The host's own resolvers (loopback ones are unreachable from a guest), from resolv.conf. */
export function hostResolvers(file = "/etc/resolv.conf"): string[] {
  try {
    return [...readFileSync(file, "utf8").matchAll(/^nameserver\s+(\S+)\s*$/gm)]
      .map((m) => m[1]!)
      .filter((a) => parseIpv4(a) !== undefined && !a.startsWith("127.") && a !== "0.0.0.0");
  } catch {
    return [];
  }
}
