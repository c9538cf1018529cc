import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import {
  renderGitConfig,
  renderLogrotate,
  renderSshd,
} from "../../src/builder/customize/config-files.js";
import { localeGenLine } from "../../src/spec/normalize.js";
import { ufwCommands } from "../../src/builder/customize/firewall.js";
import { renderDpkgTrim } from "../../src/builder/customize/trim.js";
import { GUEST_CONFIG_SCRIPT } from "../../src/builder/customize/guest-config.js";
import { renderUnit } from "../../src/builder/customize/units.js";
import { kernelPackage, mapComponents, mapPackages } from "../../src/builder/distro-map.js";
import { showProperty } from "../../src/check/config-checks.js";
import { FirewallSchema, SpecSchema, UnitSchema } from "../../src/spec/schema.js";
import { configBody } from "../helpers.js";

const body = configBody;

const spec = (extra: object) =>
  SpecSchema.parse({
    name: "t",
    version: "1.0.0",
    base: { distro: "debian", suite: "bookworm" },
    ...extra,
  });

describe("unit files from typed sections", () => {
  it("renders sections in order: booleans yes/no, lists joined, Exec* one per line", () => {
    const u = UnitSchema.parse({
      name: "claude-agent.service",
      unit: { Description: "Agent", After: ["a.service", "b.target"] },
      service: {
        ExecStartPre: ["/bin/true", "/bin/echo hi"],
        ProtectSystem: "strict",
        NoNewPrivileges: true,
        ReadWritePaths: ["/etc/claude.d", "/run/claude"],
        CPUQuota: "50%",
      },
      install: { WantedBy: ["claude.target"] },
    });
    expect(body(renderUnit(u))).toBe(
      [
        "[Unit]",
        "Description=Agent",
        "After=a.service b.target",
        "[Service]",
        // The type-checked keys come first (the schema's order), then the rest.
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "ReadWritePaths=/etc/claude.d /run/claude",
        "CPUQuota=50%",
        "ExecStartPre=/bin/true",
        "ExecStartPre=/bin/echo hi",
        "[Install]",
        "WantedBy=claude.target",
      ].join("\n"),
    );
    expect(
      body(
        renderUnit(
          UnitSchema.parse({
            name: "j.service",
            service: { Environment: ["JAVA_OPTS=-Xms1g -Xmx1g", 'MSG=say "hi"'] },
          }),
        ),
      ),
    ).toBe('[Service]\nEnvironment="JAVA_OPTS=-Xms1g -Xmx1g"\nEnvironment="MSG=say \\"hi\\""');
    expect(renderUnit(UnitSchema.parse({ name: "x.service", content: "[Unit]\n" }))).toBe(
      "[Unit]\n",
    );
  });

  it("knows how systemctl show prints the hardening keys it checks", () => {
    expect(showProperty("CPUQuota", "50%")).toEqual({
      property: "CPUQuotaPerSecUSec",
      value: "500ms",
    });
    expect(showProperty("CPUQuota", "100%")).toEqual({
      property: "CPUQuotaPerSecUSec",
      value: "1s",
    });
    expect(showProperty("MemoryMax", "512M")).toEqual({
      property: "MemoryMax",
      value: "536870912",
    });
    expect(showProperty("ProtectHome", true)).toEqual({ property: "ProtectHome", value: "yes" });
    expect(showProperty("ReadWritePaths", ["/a", "/b"])?.value).toBe("/a /b");
    expect(showProperty("CPUQuota", "150%")?.value).toBe("1.500000s");
    expect(showProperty("MemoryMax", "50%")).toBeUndefined();
    expect(showProperty("TasksMax", 4096)?.value).toBe("4096");
  });
});

describe("content sections", () => {
  it("sshd: keywords that repeat get a line per value", () => {
    expect(body(renderSshd({ HostKey: ["/k1", "/k2"], AllowUsers: ["a", "b"] }))).toBe(
      "HostKey /k1\nHostKey /k2\nAllowUsers a b",
    );
  });

  it("logrotate, git config, locale, trim", () => {
    expect(
      body(
        renderLogrotate({
          name: "app",
          paths: ["/var/log/app/*.log"],
          options: ["daily", "rotate 7"],
          postrotate: "systemctl reload rsyslog",
        }),
      ),
    ).toBe(
      "/var/log/app/*.log {\n    daily\n    rotate 7\n    postrotate\n        systemctl reload rsyslog\n    endscript\n}",
    );
    expect(
      body(
        renderGitConfig({
          "init.defaultBranch": "main",
          "user.name": "Freestyle Developer",
          "pull.rebase": false,
          "url.https://example.com/.insteadOf": "gh:",
          "alias.lg": "log --graph\n--oneline",
        }),
      ),
    ).toBe(
      '[init]\n\tdefaultBranch = main\n[user]\n\tname = "Freestyle Developer"\n[pull]\n\trebase = false\n' +
        '[url "https://example.com/"]\n\tinsteadOf = gh:\n[alias]\n\tlg = "log --graph\\n--oneline"',
    );
    expect(localeGenLine("en_US.UTF-8")).toBe("en_US.UTF-8 UTF-8");
    expect(localeGenLine("de_DE")).toBe("de_DE ISO-8859-1");
    expect(localeGenLine("C.UTF-8")).toBeUndefined();
    expect(body(renderDpkgTrim({ docs: true, man: false, locales: true, apt_lists: true }))).toBe(
      "path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\n" +
        "path-exclude /usr/share/info/*\npath-exclude /usr/share/locale/*\n" +
        "path-include /usr/share/locale/locale.alias",
    );
  });

  it("ufw: the policies, then one command per rule", () => {
    const fw = FirewallSchema.parse({
      backend: "ufw",
      allow: [{ port: 22 }, { port: "3000:3999" }, { port: "8000-8010", from: "10.0.0.0/8" }],
    });
    expect(ufwCommands(fw)).toEqual([
      ["default", "deny", "incoming"],
      ["default", "allow", "outgoing"],
      ["allow", "22/tcp"],
      ["allow", "3000:3999/tcp"],
      ["allow", "from", "10.0.0.0/8", "to", "any", "port", "8000:8010", "proto", "tcp"],
    ]);
  });
});

describe("another distribution's names on a Debian base", () => {
  it("maps Alpine package names, drops what plinth provides, and says so", () => {
    const r = mapPackages(
      spec({ packages: ["alpine-base", "openrc", "build-base", "py3-pip", "git"] }),
    );
    expect(r.packages).toEqual(["build-essential", "python3-pip", "git"]);
    expect(r.notes).toEqual([
      "package alpine-base (Alpine) is left out on debian: plinth provides its role",
      "package openrc (Alpine) is left out on debian: plinth provides its role",
      "package build-base is Alpine's name; installing build-essential on debian",
      "package py3-pip is Alpine's name; installing python3-pip on debian",
    ]);
  });

  it("maps foreign kernel packages and Ubuntu's archive components", () => {
    expect(kernelPackage(spec({ kernel: { package: "linux-image-generic" } })).name).toBe(
      "linux-image-cloud-amd64",
    );
    expect(kernelPackage(spec({ kernel: { package: "linux-virt" } })).name).toBe(
      "linux-image-cloud-amd64",
    );
    expect(kernelPackage(spec({ kernel: { package: "linux-image-rt-amd64" } })).name).toBe(
      "linux-image-rt-amd64",
    );
    expect(
      mapComponents(
        spec({ base: { distro: "debian", suite: "bookworm", components: ["main", "universe"] } }),
      ),
    ).toEqual({
      components: ["main"],
      notes: ["archive components universe are Ubuntu's; Debian's main has their packages"],
    });
    const ubuntu = spec({ base: { distro: "ubuntu", suite: "jammy" }, packages: ["build-base"] });
    expect(mapComponents(ubuntu).components).toEqual(["main", "universe"]);
    expect(mapPackages(ubuntu).packages).toEqual(["build-essential"]);
  });
});

describe("guest-config", () => {
  // The script's own parser, run by the host's sh on a made-up command line: what it sets.
  const parse = (cmdline: string) =>
    JSON.parse(
      execFileSync(
        "sh",
        [
          "-c",
          GUEST_CONFIG_SCRIPT.slice(
            GUEST_CONFIG_SCRIPT.indexOf("hostname= ip="),
            GUEST_CONFIG_SCRIPT.indexOf("set +f"),
          ) +
            `printf '{"hostname":"%s","ip":"%s","gateway":"%s","dns":"%s","ssh_key":"%s","ssh_user":"%s"}' ` +
            `"$hostname" "$ip" "$gateway" "$dns" "$ssh_key" "$ssh_user"`,
        ],
        { env: { cmdline }, encoding: "utf8" },
      ),
    );
  const none = { hostname: "", ip: "", gateway: "", dns: "", ssh_key: "", ssh_user: "" };

  it("reads plain and quoted plinth.* values from the kernel command line", () => {
    expect(
      parse(
        'console=ttyS0 plinth.ip=172.16.0.100/24 plinth.ssh_key="ssh-ed25519 AAAAC3Nza lia@host" plinth.gateway=172.16.0.1 *',
      ),
    ).toEqual({
      ...none,
      ip: "172.16.0.100/24",
      gateway: "172.16.0.1",
      ssh_key: "ssh-ed25519 AAAAC3Nza lia@host",
    });
    expect(
      parse('plinth.hostname="one" plinth.dns=1.1.1.1,8.8.8.8 plinth.ssh_user=agent quiet'),
    ).toEqual({ ...none, hostname: "one", dns: "1.1.1.1,8.8.8.8", ssh_user: "agent" });
  });

  it("takes the last of a repeated key, as the kernel does, and ignores other keys", () => {
    expect(
      parse(
        'plinth.ip=10.0.0.2/8 plinth.ssh_key="ssh-rsa AAA" plinth.other=x plinth.ip=10.0.0.3/8 plinth.ssh_key="ssh-ed25519 BBB c" root=/dev/vda',
      ),
    ).toEqual({ ...none, ip: "10.0.0.3/8", ssh_key: "ssh-ed25519 BBB c" });
    expect(parse('plinth.ip=a=b plinth.hostname=""')).toEqual({ ...none, ip: "a=b" });
  });
});
