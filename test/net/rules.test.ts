import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { netFromFlags, presetOptionalValues } from "../../src/cli/options.js";
import { macFor, overlaps, parseIpv4, parsePool, tapFor, tryCidr } from "../../src/net/address.js";
import { egressPolicy, parseEgressRule } from "../../src/net/egress.js";
import { baseRules, vmCleanup, vmRules } from "../../src/net/nft.js";

const pool = parsePool("10.213.0.0/24");
const vm = { ip: parseIpv4("10.213.0.2")!, mac: macFor(parseIpv4("10.213.0.2")!), tap: "" };
vm.tap = tapFor(vm.ip);

describe("bridge addresses", () => {
  it("a pool leaves the network, gateway and broadcast addresses out", () => {
    expect(pool.gateway).toBe(parseIpv4("10.213.0.1"));
    expect(pool.first).toBe(parseIpv4("10.213.0.2"));
    expect(pool.last).toBe(parseIpv4("10.213.0.254"));
    expect(parsePool("172.16.5.9/16").subnet.base).toBe(parseIpv4("172.16.0.0"));
  });

  it("refuses what is not a usable pool, in one sentence", () => {
    for (const bad of ["10.213.0.0", "10.0.0.0/8", "10.213.0.0/30", "300.1.1.1/24", "x/24"])
      expect(() => parsePool(bad)).toThrow(/is not an IPv4 network from \/16 to \/29/);
  });

  it("the MAC and TAP name follow the address", () => {
    expect(vm.mac).toBe("02:70:6c:d5:00:02");
    expect(vm.tap).toBe("pt0ad50002");
    expect(vm.tap.length).toBeLessThanOrEqual(15); // IFNAMSIZ - 1
  });
});

describe("egress rules", () => {
  it("parses addresses, networks and port ranges", () => {
    expect(parseEgressRule("203.0.113.7:443")).toEqual({
      to: "203.0.113.7/32",
      ports: { from: 443, to: 443 },
    });
    expect(parseEgressRule("10.1.2.3/8")).toEqual({ to: "10.0.0.0/8" });
    expect(parseEgressRule("0.0.0.0/0:80-89")).toEqual({
      to: "0.0.0.0/0",
      ports: { from: 80, to: 89 },
    });
  });

  it("refuses names, bad ports and reversed ranges", () => {
    for (const bad of ["example.com:443", "1.2.3.4:0", "1.2.3.4:70000", "1.2.3.4:90-80", "1.2.3/8"])
      expect(() => parseEgressRule(bad)).toThrow(/is not an egress rule: ADDRESS\[\/PREFIX\]/);
  });

  it("any allow denies all else; --deny-egress alone denies all but DNS", () => {
    expect(egressPolicy([]).deny).toBe("none");
    expect(egressPolicy(["1.2.3.4"]).deny).toBe("other");
    expect(egressPolicy([], "other").deny).toBe("other");
    expect(egressPolicy(["1.2.3.4"], "all").deny).toBe("all");
  });
});

/** The rules a script adds to one chain of plinth0's table in `family`, in order. */
function rulesOf(script: string, family: string, chain: string): string[] {
  const prefix = `add rule ${family} plinth_plinth0 ${chain} `;
  return script
    .split("\n")
    .filter((l) => l.startsWith(prefix))
    .map((l) => l.slice(prefix.length));
}

describe("nft rules", () => {
  const allow = egressPolicy(["203.0.113.1:8080", "198.51.100.0/24"]);

  it("anti-spoofing on every TAP; no egress chain for an unrestricted VM", () => {
    const text = vmRules("plinth0", vm, egressPolicy([]), ["192.0.2.53"]);
    expect(text).toContain("port_pt0ad50002 ether saddr != 02:70:6c:d5:00:02 drop");
    expect(text).toContain("ether type ip ip saddr != 10.213.0.2 drop");
    expect(text).toContain("ether type arp arp saddr ip != 10.213.0.2 drop");
    expect(text).toContain("ether type arp arp saddr ether != 02:70:6c:d5:00:02 drop");
    expect(text).not.toContain("vm_pt0ad50002");
  });

  it("a restricted VM: replies, DNS to its resolvers and the rules pass; the rest is refused", () => {
    const text = vmRules("plinth0", vm, allow, ["192.0.2.53"]);
    expect(rulesOf(text, "ip", "vm_pt0ad50002")).toEqual([
      "ct state established,related accept",
      "ip daddr 192.0.2.53 tcp dport 53 accept",
      "ip daddr 192.0.2.53 udp dport 53 accept",
      "ip daddr 203.0.113.1 tcp dport 8080 accept",
      "ip daddr 203.0.113.1 udp dport 8080 accept",
      "ip daddr 198.51.100.0/24 accept",
      "meta l4proto tcp reject with tcp reset",
      "reject with icmp type admin-prohibited",
    ]);
    expect(text).toContain(
      "add element ip plinth_plinth0 egress { 10.213.0.2 : jump vm_pt0ad50002 }",
    );
    // --deny-egress all: no DNS exception.
    expect(
      vmRules("plinth0", vm, egressPolicy(["203.0.113.1:8080"], "all"), ["192.0.2.53"]),
    ).not.toContain("dport 53");
  });

  it("nft applies the tables and a VM's rules, and the cleanup leaves only the tables (in a throwaway network namespace)", () => {
    const script = baseRules("plinth0", pool) + vmRules("plinth0", vm, allow, ["192.0.2.53"]);
    const cleanup = vmCleanup("plinth0", vm)
      .map((c) => `nft ${c.map((a) => `'${a}'`).join(" ")}`)
      .join(" && ");
    // `unshare -n`: a new, empty namespace that goes with the command.
    const after = execFileSync(
      "unshare",
      ["-n", "sh", "-c", `nft -f - && ${cleanup} && nft list ruleset`],
      { input: script, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] },
    );
    expect(after).toContain("table ip plinth_plinth0");
    expect(after).toContain("masquerade");
    expect(after).not.toMatch(/pt0ad50002|10\.213\.0\.2\b/);
  });

  it("cleanup names every object a VM's rules made", () => {
    const made = vmRules("plinth0", vm, allow, []);
    const cleanup = vmCleanup("plinth0", vm).map((c) => c.join(" "));
    for (const m of made.matchAll(/^add chain (\w+) plinth_plinth0 (\S+)$/gm))
      expect(cleanup).toContain(`delete chain ${m[1]} plinth_plinth0 ${m[2]}`);
    for (const m of made.matchAll(/^add element (\w+) plinth_plinth0 (\w+) /gm))
      expect(
        cleanup.some((c) => c.startsWith(`delete element ${m[1]} plinth_plinth0 ${m[2]} `)),
      ).toBe(true);
  });

  it("a restricted VM's frames to other VMs pass only where a rule allows", () => {
    const text = vmRules("plinth0", vm, allow, []);
    expect(rulesOf(text, "bridge", "peer_pt0ad50002")).toEqual([
      "ether type arp accept",
      "ip daddr 203.0.113.1 tcp dport 8080 accept",
      "ip daddr 203.0.113.1 udp dport 8080 accept",
      "ip daddr 198.51.100.0/24 accept",
      "drop",
    ]);
  });

  it("pools overlap when they share an address", () => {
    const c = (s: string) => tryCidr(s)!;
    expect(overlaps(c("10.213.0.0/24"), c("10.213.0.128/25"))).toBe(true);
    expect(overlaps(c("10.0.0.0/8"), c("10.213.0.0/24"))).toBe(true);
    expect(overlaps(c("10.213.0.0/24"), c("10.213.1.0/24"))).toBe(false);
  });
});

describe("run's network flags", () => {
  const flags = { publish: [], allowEgress: [] };
  it("--net is user-mode; bridge options imply --net bridge", () => {
    expect(netFromFlags({ ...flags, net: true })).toEqual({ forwards: [] });
    expect(netFromFlags({ ...flags })).toBeUndefined();
    expect(
      netFromFlags({ ...flags, allowEgress: ["1.2.3.4:80"], dns: "192.0.2.1,192.0.2.2" }),
    ).toMatchObject({
      mode: "bridge",
      allowEgress: ["1.2.3.4:80"],
      dns: ["192.0.2.1", "192.0.2.2"],
    });
    expect(netFromFlags({ ...flags, net: "bridge", denyEgress: true })).toMatchObject({
      denyEgress: "other",
    });
  });

  it("refuses mixes that cannot work, in one sentence each", () => {
    expect(() => netFromFlags({ ...flags, net: "user", bridge: "br1" })).toThrow(
      /--bridge need --net bridge/,
    );
    expect(() =>
      netFromFlags({ ...flags, net: "bridge", publish: [{ host: 1, guest: 2 }] }),
    ).toThrow(/-p forwards ports of QEMU's user-mode network/);
    expect(() => netFromFlags({ ...flags, net: "tap" })).toThrow(/--net takes user or bridge/);
    expect(() => netFromFlags({ ...flags, net: "bridge", denyEgress: "some" })).toThrow(
      /--deny-egress takes other or all/,
    );
  });
});

describe("options with an optional value", () => {
  it("a bare --net or --deny-egress does not take the image as its value", () => {
    expect(presetOptionalValues(["node", "plinth", "run", "--net", "img", "--", "--net"])).toEqual([
      "node",
      "plinth",
      "run",
      "--net=user",
      "img",
      "--",
      "--net",
    ]);
    expect(presetOptionalValues(["run", "--net", "bridge", "--deny-egress", "img"])).toEqual([
      "run",
      "--net",
      "bridge",
      "--deny-egress=other",
      "img",
    ]);
    expect(presetOptionalValues(["run", "--deny-egress", "all", "img"])).toEqual([
      "run",
      "--deny-egress",
      "all",
      "img",
    ]);
  });
});
