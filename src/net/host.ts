import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { run, tryRun } from "../host/exec.js";

/**
 * The host-side network operations plinth performs, each one `ip` or `nft` command in
 * plinth's own network namespace (whichever it runs in).
 */
const ip = (args: string[]) => run(["ip", ...args], { stage: "network" });

export async function linkExists(name: string): Promise<boolean> {
  return (await tryRun(["ip", "link", "show", "dev", name])) !== undefined;
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
 * Delete TAP `name` if it is a port of `bridge` or of no bridge (it fell off when the
 * bridge went): a same-named port of another bridge is not this one's to remove.
 */
export async function deletePort(name: string, bridge: string): Promise<void> {
  const out = await tryRun(["ip", "-j", "link", "show", "dev", name]);
  const link = out ? (JSON.parse(out) as { master?: string }[])[0] : undefined;
  if (link && (link.master === undefined || link.master === bridge))
    await ip(["link", "delete", "dev", name]);
}

/** The ports of `bridge` (its TAPs), by name. */
export async function bridgePorts(bridge: string): Promise<string[]> {
  const out = await tryRun(["ip", "-j", "link", "show", "master", bridge]);
  return out ? (JSON.parse(out || "[]") as { ifname: string }[]).map((l) => l.ifname) : [];
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
