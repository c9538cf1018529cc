import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { ROOT } from "./helpers.js";

/**
 * A network lab for the bridge tests, made of namespaces the test owns and nothing else:
 * `host` is where plinth runs (its bridge, TAPs and nft rules go there), `outside` stands
 * for the internet, joined to `host` by a veth pair made inside them (the host's own
 * namespace never sees it). The host side's default route points at the outside end.
 */
export interface Lab {
  host: string;
  outside: string;
  /** The host namespace's uplink address: what NAT makes of a VM's. */
  uplink: string;
  /** The outside end, where the peer server listens. */
  server: string;
  /** Run argv inside a namespace, returning stdout. */
  sh(ns: string, argv: string[]): string;
  destroy(): void;
}

export const UPLINK = "203.0.113.2";
export const SERVER = "203.0.113.1";

export function makeLab(tag: string): Lab {
  const base = `plt-${tag}-${process.pid}`;
  const host = `${base}-h`;
  const outside = `${base}-o`;
  const ip = (...args: string[]) => execFileSync("ip", args, { stdio: "pipe" });
  ip("netns", "add", host);
  ip("netns", "add", outside);
  ip("-n", host, "link", "add", "up0", "type", "veth", "peer", "name", "out0", "netns", outside);
  for (const [ns, dev, addr] of [
    [host, "up0", UPLINK],
    [outside, "out0", SERVER],
  ] as const) {
    ip("-n", ns, "addr", "add", `${addr}/24`, "dev", dev);
    ip("-n", ns, "link", "set", dev, "up");
    ip("-n", ns, "link", "set", "lo", "up");
  }
  ip("-n", host, "route", "add", "default", "via", SERVER);
  // A new namespace copies the host's IPv4 settings: start from forwarding off, as a fresh host.
  execFileSync("ip", ["netns", "exec", host, "sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward"]);
  return {
    host,
    outside,
    uplink: UPLINK,
    server: SERVER,
    sh: (ns, argv) =>
      execFileSync("ip", ["netns", "exec", ns, ...argv], { encoding: "utf8", stdio: "pipe" }),
    destroy: () => {
      for (const ns of [host, outside]) execFileSync("ip", ["netns", "del", ns], { stdio: "pipe" });
    },
  };
}

/** The peer server (test/fixtures/peer-server.mjs) in the lab's outside namespace. */
export async function peerServer(
  lab: Lab,
  ports: number[],
): Promise<{ seen: () => string[]; stop: () => void }> {
  const child: ChildProcess = spawn(
    "ip",
    [
      ...["netns", "exec", lab.outside],
      ...["node", path.join(ROOT, "test", "fixtures", "peer-server.mjs"), ...ports.map(String)],
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  let out = "";
  child.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  for (let i = 0; i < 100 && !out.includes("ready"); i++)
    await new Promise((r) => setTimeout(r, 50));
  if (!out.includes("ready")) throw new Error("the peer server did not start");
  return {
    seen: () => out.split("\n").filter((l) => l && l !== "ready"),
    stop: () => child.kill(),
  };
}
