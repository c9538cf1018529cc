import { describe, expect, it } from "vitest";
import {
  renderEnvironment,
  renderFstabEntries,
  renderDropIn,
  renderLimits,
  renderResolvConf,
  renderSshd,
  renderSysctl,
} from "../../src/builder/customize/config-files.js";
import { renderNftables } from "../../src/builder/customize/firewall.js";
import { FirewallSchema } from "../../src/spec/schema.js";
import { configBody } from "../helpers.js";

const body = configBody;

describe("config file renderers", () => {
  it("sshd: booleans as yes/no, lists joined", () => {
    expect(
      body(
        renderSshd({
          PermitRootLogin: "no",
          PasswordAuthentication: false,
          AllowUsers: ["dev", "ops"],
          MaxAuthTries: 3,
        }),
      ),
    ).toBe("PermitRootLogin no\nPasswordAuthentication no\nAllowUsers dev ops\nMaxAuthTries 3");
  });

  it("sysctl, limits, fstab, journald, environment, resolv.conf", () => {
    expect(body(renderSysctl({ "vm.swappiness": 10, "net.ipv4.ip_forward": true }))).toBe(
      "vm.swappiness = 10\nnet.ipv4.ip_forward = 1",
    );
    expect(body(renderLimits([{ domain: "*", type: "soft", item: "nofile", value: 65536 }]))).toBe(
      "*\tsoft\tnofile\t65536",
    );
    expect(
      body(
        renderFstabEntries([
          { source: "tmpfs", target: "/tmp", type: "tmpfs", options: "size=512M" },
        ]),
      ),
    ).toBe("tmpfs\t/tmp\ttmpfs\tsize=512M\t0\t0");
    expect(body(renderDropIn("Journal", { SystemMaxUse: "100M", Compress: true }))).toBe(
      "[Journal]\nSystemMaxUse=100M\nCompress=yes",
    );
    expect(body(renderEnvironment({ EDITOR: "vim", MSG: 'say "hi"' }))).toBe(
      'EDITOR="vim"\nMSG="say \\"hi\\""',
    );
    expect(body(renderResolvConf(["8.8.8.8", "1.1.1.1"]))).toBe(
      "nameserver 8.8.8.8\nnameserver 1.1.1.1",
    );
  });

  it("nftables: default policies, loopback and established traffic, allowed ports and ranges", () => {
    const fw = FirewallSchema.parse({
      allow: [
        { port: 22 },
        { port: "3000:3999" },
        { port: 53, proto: "udp", from: "10.0.0.0/8" },
        { port: 443, from: "fd00::/8" },
      ],
    });
    const text = renderNftables(fw);
    expect(text.startsWith("#!/usr/sbin/nft -f\n")).toBe(true);
    expect(text).toContain("type filter hook input priority 0; policy drop;");
    expect(text).toContain('iif "lo" accept');
    expect(text).toContain("ct state established,related accept");
    expect(text).toContain("tcp dport 22 accept");
    expect(text).toContain("tcp dport 3000-3999 accept");
    expect(text).toContain("ip saddr 10.0.0.0/8 udp dport 53 accept");
    expect(text).toContain("ip6 saddr fd00::/8 tcp dport 443 accept");
    expect(text).toContain("type filter hook output priority 0; policy accept;");
    const closed = renderNftables(FirewallSchema.parse({ outgoing: "deny" }));
    expect(closed).toContain("type filter hook output priority 0; policy drop;");
    expect(closed).toContain('oif "lo" accept');
  });
});
