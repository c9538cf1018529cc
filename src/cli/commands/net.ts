import type { Command } from "commander";
import { DEFAULT_BRIDGE } from "../../net/bridge.js";
import { listNetworks, removeNetwork } from "../../sdk/index.js";
import { makeContext } from "../context.js";

export function registerNet(program: Command): void {
  const net = program
    .command("net")
    .description("plinth's host bridges (--net bridge): list them, or remove one and its rules");
  net
    .command("ls")
    .description("the bridges plinth made and their leases")
    .option("--json", "print {networks: [{bridge, subnet, leases}]}")
    .action((opts: { json?: boolean }) => {
      const ctx = makeContext(!!opts.json);
      const networks = listNetworks();
      const lines = networks.flatMap((n) => [
        `${n.bridge} ${n.subnet}${n.here ? "" : " (another network namespace)"}`,
        ...Object.entries(n.leases).map(([ip, l]) => `  ${ip.padEnd(15)} ${l.tap} ${l.vm}`),
      ]);
      ctx.result(lines.length ? lines : ["no plinth bridges"], { networks });
    });
  net
    .command("down")
    .description(
      "remove a plinth bridge: its TAPs, NAT and egress rules, leases, and the forwarding plinth turned on",
    )
    .option("--bridge <name>", "the bridge", DEFAULT_BRIDGE)
    .option("--json", "print what was removed")
    .action(async (opts: { bridge: string; json?: boolean }) => {
      const ctx = makeContext(!!opts.json);
      const r = await removeNetwork(opts.bridge);
      const freed = r.freed.length ? `, freed the leases of ${r.freed.join(", ")}` : "";
      const fwd = r.forwardingRestored ? ", turned IPv4 forwarding off again" : "";
      const kept = r.keptForeign
        ? `; kept the device ${r.bridge}: it lacks plinth's mark, so another program made it`
        : "";
      const line = r.removed
        ? `removed ${r.bridge} and its rules (${r.taps.length} TAPs${freed}${fwd})${kept}`
        : `plinth has no bridge ${r.bridge} here: nothing to remove`;
      ctx.result([line], r);
    });
}
