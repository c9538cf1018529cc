import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadSpec } from "../../src/spec/load.js";
import { parseMode } from "../../src/spec/schema.js";
import { parseSetPath } from "../../src/spec/set-path.js";
import { tempFiles } from "../helpers.js";

const GOOD = `name: demo
version: 1.2.3
base:
  distro: debian
  suite: bookworm
`;

function diags(files: Record<string, string>, main = "plinth.yaml", sets?: string[]) {
  const dir = tempFiles(files);
  const r = loadSpec(path.join(dir, main), { sets });
  return {
    ...r,
    dir,
    lines: r.diagnostics.map((d) => `${path.basename(d.file)}:${d.line}:${d.col}: ${d.message}`),
  };
}

describe("loadSpec", () => {
  it("accepts a valid spec and fills defaults", () => {
    const r = diags({ "plinth.yaml": GOOD });
    expect(r.diagnostics).toEqual([]);
    expect(r.spec).toMatchObject({
      name: "demo",
      arch: "amd64",
      init: "systemd",
      outputs: ["ext4"],
      packages: [],
    });
    expect(r.spec?.base.variant).toBe("apt");
  });

  it("reports a YAML syntax error with its position", () => {
    const r = diags({ "plinth.yaml": "name: demo\nbase: {distro: debian\nversion: 1.0.0\n" });
    expect(r.spec).toBeUndefined();
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/^plinth\.yaml:3:1: /);
  });

  it("reports a duplicate key as a YAML error", () => {
    const r = diags({ "plinth.yaml": GOOD + "name: again\n" });
    expect(r.lines[0]).toMatch(/^plinth\.yaml:6:1: Map keys must be unique/);
  });

  it("reports every problem at once, each at its node", () => {
    const r = diags({
      "plinth.yaml": `name: Bad Name
version: 1.2
base:
  distro: fedora
  suite: bookworm
  mirorr: http://x
init: openrc
users:
  - name: a
    uid: "x"
  - name: a
outputs: [ext4, vhdx]
`,
    });
    expect(r.lines).toEqual([
      "plinth.yaml:1:7: name: must be 1-63 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit, without '..'",
      "plinth.yaml:2:10: version: Invalid input: expected string, received number",
      'plinth.yaml:4:11: base.distro: Invalid option: expected one of "debian"|"ubuntu"|"alpine"',
      'plinth.yaml:6:3: base: unknown key "mirorr"',
      'plinth.yaml:7:7: init: Invalid option: expected one of "systemd"|"minimal"',
      "plinth.yaml:10:10: users[0].uid: Invalid input: expected number, received string",
      'plinth.yaml:11:11: user "a" is defined twice (first at users[0])',
      'plinth.yaml:12:17: outputs[1]: output "vhdx" is not one plinth writes; it writes: ext4, disk, qcow2, vmdk, vmx, ova, vmlinux, firecracker',
    ]);
  });

  it("rejects a version that is not semver", () => {
    const r = diags({ "plinth.yaml": GOOD.replace("1.2.3", '"1.2"') });
    expect(r.lines).toEqual([
      "plinth.yaml:2:10: version: must be a semantic version such as 1.2.3",
    ]);
  });

  it("points a missing required key at its parent", () => {
    const r = diags({ "plinth.yaml": "name: demo\nversion: 1.0.0\nbase:\n  distro: debian\n" });
    expect(r.lines).toEqual([
      "plinth.yaml:4:3: base.suite: name a suite to bootstrap (e.g. bookworm), or a container base: image, oci-layout, tarball, dockerfile",
    ]);
  });

  it("reports a missing source file, resolved relative to the spec", () => {
    const r = diags({
      "plinth.yaml":
        GOOD +
        "files:\n  - path: /etc/a\n    source: a.txt\n  - path: /etc/b\n    source: missing.txt\n",
      "a.txt": "hello",
    });
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/^plinth\.yaml:10:13: source file .*missing\.txt does not exist$/);
  });

  it("requires exactly one of content and source", () => {
    const r = diags({ "plinth.yaml": GOOD + "files:\n  - path: /etc/a\n" });
    expect(r.lines).toEqual([
      "plinth.yaml:7:5: files[0]: give exactly one of `content` or `source`",
    ]);
  });

  it("takes an unquoted octal mode as octal and rejects non-octal digits", () => {
    const ok = diags({ "plinth.yaml": GOOD + "directories:\n  - path: /x\n    mode: 0755\n" });
    expect(ok.diagnostics).toEqual([]);
    const bad = diags({ "plinth.yaml": GOOD + "directories:\n  - path: /x\n    mode: 0799\n" });
    expect(bad.lines).toEqual([
      'plinth.yaml:8:11: directories[0].mode: must be an octal mode such as "0644"',
    ]);
  });

  it("merges an extended spec: maps merge, lists concatenate, scalars override", () => {
    const r = diags({
      "base.yaml": GOOD + "packages: [curl]\nhostname: base\n",
      "plinth.yaml": "extends: base.yaml\nname: child\npackages: [git]\nbase:\n  suite: trixie\n",
    });
    expect(r.diagnostics).toEqual([]);
    expect(r.spec).toMatchObject({
      name: "child",
      version: "1.2.3",
      hostname: "base",
      packages: ["curl", "git"],
    });
    expect(r.spec?.base).toMatchObject({ distro: "debian", suite: "trixie" });
    expect(r.files.map((f) => path.basename(f))).toEqual(["plinth.yaml", "base.yaml"]);
  });

  it("reports a problem inherited from an extended file at that file's line", () => {
    const r = diags({
      "base.yaml": GOOD + "packages:\n  - curl\n  - Bad_Pkg\n",
      "plinth.yaml": "extends: base.yaml\npackages: [git, 'no spaces']\n",
    });
    expect(r.lines).toEqual([
      "base.yaml:8:5: packages[1]: must be a package name",
      "plinth.yaml:2:17: packages[3]: must be a package name",
    ]);
  });

  it("reports a missing or cyclic extends at the extends line", () => {
    expect(diags({ "plinth.yaml": "name: x\nextends: nope.yaml\n" }).lines).toEqual([
      expect.stringMatching(/^plinth\.yaml:2:10: extended spec .*nope\.yaml does not exist$/),
    ]);
    const cyc = diags({ "a.yaml": "extends: plinth.yaml\n", "plinth.yaml": "extends: a.yaml\n" });
    expect(cyc.lines).toEqual([
      expect.stringMatching(/^a\.yaml:1:10: `extends` makes a cycle through .*plinth\.yaml$/),
    ]);
  });

  it("applies --set overrides with YAML-typed values and reports them by argument", () => {
    const ok = diags({ "plinth.yaml": GOOD }, "plinth.yaml", [
      "base.suite=trixie",
      "agent=true",
      "packages=[jq]",
    ]);
    expect(ok.diagnostics).toEqual([]);
    expect(ok.spec).toMatchObject({ agent: true, packages: ["jq"], base: { suite: "trixie" } });
    const bad = diags({ "plinth.yaml": GOOD }, "plinth.yaml", ["base.distro=gentoo", "nonsense"]);
    expect(bad.diagnostics.map((d) => `${d.file}: ${d.message}`)).toEqual(
      [
        'base.distro=gentoo: base.distro: Invalid option: expected one of "debian"|"ubuntu"|"alpine"',
        "nonsense: expected KEY.PATH=VALUE, such as users[0].shell=/bin/zsh",
      ].map((s) => `--set ${s}`),
    );
  });

  it("reports a file that cannot be read, and a spec that is not a mapping", () => {
    const dir = tempFiles({ "list.yaml": "- a\n- b\n" });
    expect(loadSpec(path.join(dir, "none.yaml")).diagnostics[0]?.message).toBe(
      "cannot read this file",
    );
    expect(loadSpec(path.join(dir, "list.yaml")).diagnostics[0]?.message).toBe(
      "a spec must be a YAML mapping",
    );
    writeFileSync(path.join(dir, "empty.yaml"), "");
    expect(loadSpec(path.join(dir, "empty.yaml")).diagnostics[0]?.message).toBe(
      "a spec must be a YAML mapping",
    );
  });

  it("reports a root that is not a mapping where that root starts, past leading comments", () => {
    const at = (text: string) => diags({ "plinth.yaml": text }).lines;
    expect(at("# comment\n\n- a\n- b\n")).toEqual([
      "plinth.yaml:3:1: a spec must be a YAML mapping",
    ]);
    expect(at("# a scalar, indented\n  hello\n")).toEqual([
      "plinth.yaml:2:3: a spec must be a YAML mapping",
    ]);
    expect(at("---\n# x\n[1, 2]\n")).toEqual(["plinth.yaml:3:1: a spec must be a YAML mapping"]);
    expect(at("# nothing but a comment\n")).toEqual([
      "plinth.yaml:1:1: a spec must be a YAML mapping",
    ]);
  });

  it("says at validation that arm64 is not built or booted yet, in one sentence", () => {
    const r = diags({ "plinth.yaml": GOOD + "arch: arm64\n" });
    expect(r.lines).toEqual([
      "plinth.yaml:6:7: arch arm64 is not supported yet: plinth builds its outputs (rootfs.ext4, vmlinuz, initrd.img) and boots them (plinth run, plinth check) only for amd64",
    ]);
    expect(diags({ "plinth.yaml": GOOD }, "plinth.yaml", ["arch=arm64"]).spec).toBeUndefined();
  });

  it("holds image names to the one name rule (no .., at most 63 characters)", () => {
    const bad = (name: string) => diags({ "plinth.yaml": GOOD.replace("demo", name) }).lines;
    expect(bad("a..b")[0]).toMatch(/^plinth\.yaml:1:7: name: must be 1-63 lowercase/);
    expect(bad("x".repeat(64))[0]).toMatch(/name: must be 1-63/);
    expect(bad("ok.name_1-2")).toEqual([]);
  });

  it("takes one container base, resolves its host paths, and says what does not fit it", () => {
    const spec = (base: string, extra = "") =>
      diags({
        "plinth.yaml": `name: demo\nversion: 1.0.0\nbase: ${base}\n${extra}`,
        Dockerfile: "",
        layout: "",
      });
    const ok = spec("{ dockerfile: Dockerfile, args: { BASE: r.example/x:1 } }");
    expect(ok.lines).toEqual([]);
    expect(ok.spec?.base).toMatchObject({
      distro: "debian",
      dockerfile: path.join(ok.dir, "Dockerfile"),
      args: { BASE: "r.example/x:1" },
    });
    expect(ok.spec?.oci).toEqual({ entrypoint: "ignore" });
    expect(spec("{ image: registry.example/team/python:3.12 }").lines).toEqual([]);
    const layout = spec("{ oci-layout: ./layout, ref: v1 }");
    expect(layout.spec?.base["oci-layout"]).toBe(path.join(layout.dir, "layout"));
    expect(spec("{ image: python }").lines[0]).toMatch(/base\.image: must be a registry reference/);
    expect(spec("{ image: r.example/a:1, tarball: a.tar }").lines[0]).toMatch(
      /give one of image, oci-layout, tarball, dockerfile, not image and tarball/,
    );
    expect(spec("{ image: r.example/a:1, suite: bookworm }").lines[0]).toMatch(
      /a container base is not bootstrapped: drop `suite` and `mirror`/,
    );
    expect(spec("{ distro: debian }").lines[0]).toMatch(/name a suite to bootstrap/);
    expect(spec("{ image: r.example/a:1, ref: v1 }").lines[0]).toMatch(
      /`ref` names an image in an `oci-layout`/,
    );
    expect(spec("{ image: r.example/a:1, args: { A: b } }").lines[0]).toMatch(
      /`args` belongs to a `dockerfile` base/,
    );
  });

  it("lets an extending file remove a base's key with null", () => {
    const r = diags({
      "base.yaml": GOOD + "hostname: base\n",
      "plinth.yaml":
        "extends: base.yaml\nhostname: null\nbase:\n  suite: null\n  image: r.example/a:1\n",
    });
    expect(r.lines).toEqual([]);
    expect(r.spec?.hostname).toBeUndefined();
    expect(r.spec?.base).toMatchObject({ distro: "debian", image: "r.example/a:1" });
    expect(r.spec?.base.suite).toBeUndefined();
  });

  it("refuses services with the minimal init", () => {
    const r = diags({
      "plinth.yaml": GOOD + "init: minimal\nagent: true\nservices:\n  enable: [ssh]\n",
    });
    expect(r.lines).toEqual([
      "plinth.yaml:9:11: services need `init: systemd`; the minimal init runs only the agent",
    ]);
  });

  it("wants the agent with the minimal init: the agent is that init", () => {
    const r = diags({ "plinth.yaml": GOOD + "init: minimal\n" });
    expect(r.lines).toEqual([
      "plinth.yaml:6:7: `init: minimal` needs `agent: true`: the agent is the minimal init",
    ]);
  });

  it("checks the system sections: ssh keywords, firewall ports, sysctl keys, limits", () => {
    const r = diags({
      "plinth.yaml":
        GOOD +
        "ssh:\n  permitRootLogin: no\nfirewall:\n  allow:\n    - port: 70000\n    - port: 3000-x\n" +
        "sysctl:\n  Bad Key: 1\nlimits:\n  - { domain: '*', type: soft, item: nofile, value: lots }\n",
    });
    expect(r.lines).toEqual([
      "plinth.yaml:7:3: ssh.permitRootLogin: must be an sshd_config keyword such as PermitRootLogin",
      "plinth.yaml:10:13: firewall.allow[0].port: Too big: expected number to be <=65535",
      'plinth.yaml:11:13: firewall.allow[1].port: must be a port or a range such as "3000:3999"',
      "plinth.yaml:13:3: sysctl.Bad Key: must be a sysctl key such as vm.swappiness",
      "plinth.yaml:15:53: limits[0].value: Invalid input",
    ]);
  });
});

describe("loadSpec: units and the content sections", () => {
  it("type-checks unit hardening keys and wants content or sections, not both", () => {
    const r = diags({
      "plinth.yaml":
        GOOD +
        "services:\n  units:\n" +
        "    - name: a.service\n      service:\n        ProtectSystem: sometimes\n" +
        "        CPUQuota: half\n        ReadWritePaths: [relative]\n" +
        "    - name: b.service\n      content: x\n      unit: { Description: b }\n" +
        "    - name: c.service\n      service: { bad_key: 1, ProtectSytem: strict }\n" +
        "trim: { docs: maybe }\nlocale: english\n",
    });
    expect(r.lines).toEqual([
      "plinth.yaml:10:24: services.units[0].service.ProtectSystem: Invalid input",
      'plinth.yaml:11:19: services.units[0].service.CPUQuota: must be a percentage such as "50%"',
      "plinth.yaml:12:26: services.units[0].service.ReadWritePaths[0]: must be an absolute path (optionally prefixed with - or +)",
      "plinth.yaml:13:7: services.units[1]: give either `content` or the `unit`/`service`/`install` sections, not both",
      "plinth.yaml:17:27: services.units[2].service.bad_key: must be a unit-file key such as ExecStart",
      "plinth.yaml:17:44: services.units[2].service.ProtectSytem: unknown key; did you mean ProtectSystem?",
      "plinth.yaml:18:7: trim: Invalid input",
      "plinth.yaml:19:9: locale: must be a locale such as en_US.UTF-8",
    ]);
  });
});

describe("loadSpec: --set into lists", () => {
  const SPEC =
    GOOD +
    "users:\n  - { name: a, uid: 1000 }\n  - { name: b, uid: 1001 }\n" +
    "files:\n  - { path: /etc/a, content: a }\n  - { path: /etc/b, content: b }\n";
  const set = (...sets: string[]) => diags({ "plinth.yaml": SPEC }, "plinth.yaml", sets);
  const messages = (r: ReturnType<typeof set>) =>
    r.diagnostics.map((d) => `${d.file}:${d.line}:${d.col}: ${d.message}`);

  it("addresses list items by index: users[0].shell, files[1].mode, and the older files.1.mode", () => {
    const r = set("users[0].shell=/bin/zsh", "files[1].mode=0600", "files.0.owner=a");
    expect(r.diagnostics).toEqual([]);
    expect(r.spec?.users.map((u) => [u.name, u.shell])).toEqual([
      ["a", "/bin/zsh"],
      ["b", undefined],
    ]);
    // An unquoted mode is read as its octal digits, as in the file.
    expect(parseMode(r.spec?.files[1]?.mode, 0)).toBe(0o600);
    expect(r.spec?.files[0]).toMatchObject({ path: "/etc/a", owner: "a" });
  });

  it("reaches nested lists: a.b[2].c and deeper", () => {
    const r = set("firewall.allow=[{port: 1}, {port: 2}, {port: 3}]", "firewall.allow[2].port=22");
    expect(r.diagnostics).toEqual([]);
    expect(r.spec?.firewall?.allow?.map((a) => a.port)).toEqual([1, 2, 22]);
    const units = set(
      "services.units=[{name: a.service, service: {ReadWritePaths: [/a, /b]}}]",
      "services.units[0].service.ReadWritePaths[1]=/c",
    );
    expect(units.diagnostics).toEqual([]);
    expect(units.spec?.services.units?.[0]?.service?.ReadWritePaths).toEqual(["/a", "/c"]);
    expect(parseSetPath("a.b[2][0].c")).toEqual([
      { key: "a" },
      { key: "b" },
      { index: 2 },
      { index: 0 },
      { key: "c" },
    ]);
  });

  it("refuses an index that does not exist, in one sentence, and never appends", () => {
    expect(messages(set("users[3].shell=/bin/zsh"))).toEqual([
      "--set users[3].shell=/bin/zsh:1:1: users[3].shell: users has 2 items (indexes 0–1)",
    ]);
    expect(messages(set("files[2].mode=0600"))).toEqual([
      "--set files[2].mode=0600:1:1: files[2].mode: files has 2 items (indexes 0–1); --set does not append: set the whole list",
    ]);
    expect(messages(set("files.5.mode=0600"))[0]).toMatch(/files has 2 items \(indexes 0–1\)$/);
    expect(messages(set("groups[0].name=x"))).toEqual([
      "--set groups[0].name=x:1:1: groups[0].name: groups is not set, so it has no items",
    ]);
    const one = diags({ "plinth.yaml": GOOD + "packages: [curl]\n" }, "plinth.yaml", [
      "packages[1]=git",
    ]);
    expect(one.diagnostics[0]?.message).toBe(
      "packages[1]: packages has 1 item (index 0); --set does not append: set the whole list",
    );
  });

  it("refuses [i] on what is not a list, and a key on a list", () => {
    expect(set("base[0].suite=trixie").diagnostics.map((d) => d.message)).toEqual([
      "base[0].suite: base is a mapping, not a list",
    ]);
    expect(set("name[0]=x").diagnostics.map((d) => d.message)).toEqual([
      "name[0]: name is a string, not a list",
    ]);
    expect(set("users.shell=/bin/zsh").diagnostics.map((d) => d.message)).toEqual([
      "users.shell: users is a list: address an item by index, as in users[0]",
    ]);
    for (const bad of ["users[x].shell=a", "users[0.shell=a", "[0].a=b", "users..shell=a"])
      expect(set(bad).diagnostics.map((d) => d.message)).toEqual([
        "expected KEY.PATH=VALUE, such as users[0].shell=/bin/zsh",
      ]);
  });

  it("points a problem in a set item at the --set argument, and the others still at the file", () => {
    const r = set("users[1].uid=x");
    expect(messages(r)).toEqual([
      "--set users[1].uid=x:1:1: users[1].uid: Invalid input: expected number, received string",
    ]);
    const file = diags({ "plinth.yaml": SPEC.replace("uid: 1000", 'uid: "x"') }, "plinth.yaml", [
      "users[1].shell=/bin/zsh",
    ]);
    expect(file.lines).toEqual([
      "plinth.yaml:7:21: users[0].uid: Invalid input: expected number, received string",
    ]);
    // A mapping made on the way to the value is the override's too.
    expect(messages(set("hostname.x=1"))[0]).toMatch(/^--set hostname\.x=1:1:1: hostname: /);
  });
});
