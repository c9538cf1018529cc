import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { run, tryRun } from "../host/exec.js";

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

export async function linkExists(name: string): Promise<boolean> {
  return (await ipJson(["link", "show", "dev", name])) !== undefined;
}

export async function createBridge(name: string, address: string): Promise<void> {
  await ip(["link", "add", "name", name, "type", "bridge"]);
  await ip(["addr", "add", address, "dev", name]);
  await ip(["link", "set", "dev", name, "up"]);
}

/** A persistent TAP, a port of `bridge`: the VMM opens it by name and it outlives the VMM. */
export async function createTap(name: string, bridge: string): Promise<void> {
  await ip(["tuntap", "add", "dev", name, "mode", "tap"]);
  await ip(["link", "set", "dev", name, "master", bridge]);
  await ip(["link", "set", "dev", name, "up"]);
}

export async function deleteLink(name: string): Promise<void> {
  if (await linkExists(name)) await ip(["link", "delete", "dev", name]);
}

/**
 * Delete `name` if it is a TAP that is a port of `bridge`, or of no bridge (it fell off
 * when the bridge went): anything else of that name is not this bridge's to remove.
 */
export async function deletePort(name: string, bridge: string): Promise<void> {
  const link = (await ipJson<{ master?: string }>(["link", "show", "dev", name]))?.[0];
  const tap = existsSync(`/sys/class/net/${name}/tun_flags`);
  if (link && tap && (link.master === undefined || link.master === bridge))
    await ip(["link", "delete", "dev", name]);
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
    return [...readFileSync(file, "utf8").matchAll(/^nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/gm)]
      .map((m) => m[1]!)
      .filter((a) => !a.startsWith("127."));
  } catch {
    return [];
  }
}
