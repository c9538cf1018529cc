import path from "node:path";
import { describe, expect, it } from "vitest";
import { planBuild } from "../../src/builder/plan.js";
import { readAgentBinary } from "../../src/builder/customize/agent.js";
import { mmdebstrapArgv } from "../../src/builder/bootstrap/mmdebstrap.js";
import { defaultMirror, hostAptSources } from "../../src/builder/bootstrap/mirror.js";
import { UnsupportedError, UserError } from "../../src/errors.js";
import { loadSpec } from "../../src/spec/load.js";
import { tempFiles } from "../helpers.js";

const SPEC = `name: demo
version: 1.0.0
base:
  distro: debian
  suite: bookworm
  mirror: http://mirror.example/debian
packages: [curl, git]
users:
  - name: dev
    sudo: nopasswd
files:
  - path: /etc/motd
    content: hi
`;

function plan(sets: string[] = [], text = SPEC, isRoot = true) {
  const dir = tempFiles({ "plinth.yaml": text });
  const file = path.join(dir, "plinth.yaml");
  const r = loadSpec(file, { sets });
  if (!r.spec) throw new Error(r.diagnostics.map((d) => d.message).join("; "));
  return planBuild(r.spec, { specFile: file, isRoot });
}

describe("planBuild", () => {
  it("adds what plinth needs to the package set: init, kernel, sudo", () => {
    expect(plan().bootstrap.packages).toEqual([
      "curl",
      "git",
      "linux-image-cloud-amd64",
      "sudo",
      "systemd-sysv",
      "udev",
    ]);
    expect(
      plan(["init=minimal", "agent=true", "users=[]", "kernel.package=linux-image-amd64"]).bootstrap
        .packages,
    ).toEqual(["curl", "git", "iproute2", "linux-image-amd64", "mount"]);
    // The agent is one static binary: no runtime for it in the image.
    expect(plan(["agent=true"]).bootstrap.packages).not.toContain("nodejs");
  });

  it("keeps the bootstrap hash when only files, users, services or run steps change", () => {
    const a = plan();
    for (const set of [
      "files[0].content=bye",
      "hostname=other",
      "run=['echo hi']",
      "services.enable=[ssh]",
      "timezone=Europe/Paris",
    ]) {
      const b = plan([set.replace("files[0]", "files.0")]);
      expect(b.bootstrap.hash, set).toBe(a.bootstrap.hash);
      expect(b.buildHash, set).not.toBe(a.buildHash);
    }
  });

  it("changes the bootstrap hash when the package set, suite, mirror or variant changes", () => {
    const a = plan().bootstrap.hash;
    for (const set of [
      "packages=[curl]",
      "base.suite=trixie",
      "base.mirror=http://other/debian",
      "base.variant=minbase",
    ]) {
      expect(plan([set]).bootstrap.hash, set).not.toBe(a);
    }
  });

  it("does not depend on package order or duplicates", () => {
    expect(plan(["packages=[git, curl, git]"]).bootstrap.hash).toBe(plan().bootstrap.hash);
  });

  it("uses apt sources for the suite, its updates and security", () => {
    expect(plan().bootstrap.sources).toEqual([
      "deb http://mirror.example/debian bookworm main",
      "deb http://mirror.example/debian bookworm-updates main",
      "deb http://mirror.example/debian-security bookworm-security main",
    ]);
    expect(plan(["base.suite=sid"]).bootstrap.sources).toEqual([
      "deb http://mirror.example/debian sid main",
    ]);
  });

  it("builds the exact mmdebstrap invocation for Debian, as root and rootless", () => {
    const p = plan();
    expect(mmdebstrapArgv(p.bootstrap, "/out.tar")).toEqual([
      "mmdebstrap",
      "--mode=root",
      "--variant=apt",
      "--architectures=amd64",
      "--format=tar",
      '--aptopt=Acquire::Retries "3"',
      "--verbose",
      "--include=curl,git,linux-image-cloud-amd64,sudo,systemd-sysv,udev",
      "bookworm",
      "/out.tar",
      ...p.bootstrap.sources,
    ]);
    expect(mmdebstrapArgv(plan([], SPEC, false).bootstrap, "/out.tar")[1]).toBe("--mode=unshare");
  });

  it("builds the exact mmdebstrap invocation for Ubuntu, with its keyring and universe", () => {
    const p = plan([
      "base.distro=ubuntu",
      "base.suite=jammy",
      "base.mirror=http://archive.ubuntu.com/ubuntu",
    ]);
    expect(mmdebstrapArgv(p.bootstrap, "/out.tar", "/cache/debs")).toEqual([
      "mmdebstrap",
      "--mode=root",
      "--variant=apt",
      "--architectures=amd64",
      "--format=tar",
      '--aptopt=Acquire::Retries "3"',
      "--verbose",
      "--include=curl,git,linux-image-virtual,sudo,systemd-sysv,udev",
      "--keyring=/usr/share/keyrings/ubuntu-archive-keyring.gpg",
      "--skip=essential/unlink",
      '--setup-hook=mkdir -p "$1"/var/cache/apt/archives/',
      "--setup-hook=sync-in '/cache/debs' /var/cache/apt/archives/",
      "--customize-hook=sync-out /var/cache/apt/archives '/cache/debs'",
      "jammy",
      "/out.tar",
      "deb http://archive.ubuntu.com/ubuntu jammy main universe",
      "deb http://archive.ubuntu.com/ubuntu jammy-updates main universe",
      "deb http://archive.ubuntu.com/ubuntu jammy-security main universe",
    ]);
  });

  it("refuses alpine in one sentence", () => {
    expect(() => plan(["base.distro=alpine", "base.suite=3.19"])).toThrow(UnsupportedError);
    expect(() => plan(["base.distro=alpine", "base.suite=3.19"])).toThrow(
      /^Alpine bootstrap is not implemented yet/,
    );
  });

  it("puts extra kernel arguments on the command line", () => {
    expect(plan(["kernel.cmdline=quiet"]).kernelCmdline).toBe(
      "console=ttyS0 root=/dev/vda rw panic=-1 quiet",
    );
  });

  it("is independent of where the spec lives", () => {
    const text = SPEC.replace("content: hi", "source: motd.txt");
    const a = tempFiles({ "plinth.yaml": text, "motd.txt": "hi" });
    const b = tempFiles({ "plinth.yaml": text, "motd.txt": "hi" });
    const hash = (dir: string) =>
      planBuild(loadSpec(path.join(dir, "plinth.yaml")).spec!, { specFile: dir }).buildHash;
    expect(hash(a)).toBe(hash(b));
  });
});

describe("planBuild with a container base", () => {
  const text = SPEC.replace(
    "  distro: debian\n  suite: bookworm\n  mirror: http://mirror.example/debian\n",
    "  image: registry.example/team/python:3.12\n",
  );
  const planWith = (baseDigest?: string) => {
    const dir = tempFiles({ "plinth.yaml": text });
    const file = path.join(dir, "plinth.yaml");
    return planBuild(loadSpec(file).spec!, { specFile: file, isRoot: true, baseDigest });
  };

  it("keys the build and its base on the manifest digest the reference resolved to", () => {
    const a = planWith(`sha256:${"a".repeat(64)}`);
    const b = planWith(`sha256:${"b".repeat(64)}`);
    expect(a.container).toMatchObject({
      source: { kind: "image", ref: "registry.example/team/python:3.12" },
      digest: `sha256:${"a".repeat(64)}`,
    });
    expect(a.container!.hash).not.toBe(b.container!.hash);
    expect(a.buildHash).not.toBe(b.buildHash);
    expect(planWith(`sha256:${"a".repeat(64)}`).buildHash).toBe(a.buildHash);
    expect(a.stages[0]!.title).toBe("container base registry.example/team/python:3.12");
    // The packages to install into it: the spec's and what plinth needs.
    expect(a.bootstrap.packages).toEqual(expect.arrayContaining(["curl", "git", "sudo"]));
  });

  it("without a digest (validate, offline), stands in the reference", () => {
    expect(planWith().container!.digest).toBe("registry.example/team/python:3.12");
  });
});

describe("host apt sources", () => {
  it("reads one-line and deb822 sources and picks the Debian mirror", () => {
    const dir = tempFiles({
      "sources.list": "# c\ndeb [arch=amd64] http://one.example/debian bookworm main\n",
    });
    const sources = hostAptSources(dir);
    expect(sources).toEqual([{ uri: "http://one.example/debian", suites: ["bookworm"] }]);
    expect(
      defaultMirror("debian", [
        { uri: "http://sec.example/debian-security", suites: ["bookworm-security"] },
        { uri: "http://deb.example/debian/", suites: ["bookworm", "bookworm-updates"] },
      ]),
    ).toBe("http://deb.example/debian");
    expect(defaultMirror("debian", [])).toBe("http://deb.debian.org/debian");
    expect(defaultMirror("ubuntu", sources)).toBe("http://archive.ubuntu.com/ubuntu");
  });

  it("says how to build the agent when its binary is missing (a user error)", () => {
    let error: unknown;
    try {
      readAgentBinary("riscv64");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UserError);
    expect(error).toMatchObject({
      code: "AGENT_MISSING",
      hint: expect.stringMatching(/npm run build/),
    });
  });
});
