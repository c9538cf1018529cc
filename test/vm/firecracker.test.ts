import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiPut } from "../../src/vm/firecracker/api.js";
import { Machine } from "../../src/vm/machine.js";
import { CLI, fakeMetadata, ROOT } from "../helpers.js";

// The Firecracker driver against a stand-in of Firecracker's API (this machine has no
// Firecracker binary and no KVM): every request it makes is validated against
// firecracker-swagger.yaml by the stand-in, which then bridges the vsock to a real agent.

const dir = mkdtempSync(path.join(os.tmpdir(), "plinth-fc-"));
const home = path.join(dir, "home");
const requests = path.join(dir, "requests.jsonl");
const tsx = createRequire(import.meta.url).resolve("tsx");
const standin = path.join(ROOT, "test", "fixtures", "firecracker-standin.ts");

interface Logged {
  method: string;
  route: string;
  body: Record<string, unknown>;
  definition?: string;
  errors: string[];
}
const logged = (): Logged[] =>
  existsSync(requests)
    ? readFileSync(requests, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Logged)
    : [];

/** An image dir with the artifacts the driver reads (their bytes do not matter here). */
function image(name: string, kinds: string[], extra: Record<string, unknown> = {}): string {
  const d = path.join(dir, name);
  mkdirSync(d);
  const files: Record<string, string> = {
    rootfs: "rootfs.ext4",
    kernel: "vmlinuz",
    initrd: "initrd.img",
    vmlinux: "vmlinux",
  };
  const artifacts = kinds.map((kind) => {
    writeFileSync(path.join(d, files[kind]!), `${kind}\n`);
    return { name: files[kind]!, kind, size: kind.length + 1, sha256: "b".repeat(64) };
  });
  const meta = {
    ...fakeMetadata({ name, version: "0.1.0", buildHash: "c".repeat(16) }),
    kernel: {
      cmdline: "console=ttyS0 root=/dev/vda rw panic=-1 init=/usr/lib/plinth/plinth-agent",
    },
    artifacts,
    ...extra,
  };
  writeFileSync(path.join(d, "metadata.json"), JSON.stringify(meta));
  return d;
}

describe("the Firecracker driver (against a stand-in of Firecracker's API)", () => {
  let env: Record<string, string | undefined>;
  beforeAll(() => {
    env = { ...process.env };
    const bin = path.join(dir, "firecracker");
    writeFileSync(bin, `#!/bin/sh\nexec node --import ${tsx} ${standin} "$@"\n`);
    chmodSync(bin, 0o755);
    Object.assign(process.env, {
      PLINTH_HOME: home,
      PLINTH_FIRECRACKER: bin,
      PLINTH_FC_STANDIN_LOG: requests,
    });
  });
  afterAll(() => {
    process.env = env as NodeJS.ProcessEnv;
  });

  it("configures the VM through the API in Firecracker's order, every body valid, and reaches the agent over vsock", async () => {
    const img = image("fcimg", ["rootfs", "kernel", "initrd", "vmlinux"]);
    const vm = await Machine.start({
      image: img,
      vmm: "firecracker",
      name: "fc1",
      memMiB: 256,
      cpus: 2,
    });
    try {
      const agent = await vm.agent();
      expect((await agent.exec("echo through vsock")).stdout).toBe("through vsock\n");
      expect(vm.config).toMatchObject({ vmm: "firecracker", memMiB: 256, cpus: 2 });
    } finally {
      expect(await vm.stop(10_000)).toBe("agent");
      await vm.remove();
    }
    const reqs = logged();
    expect(reqs.map((r) => `${r.method} ${r.route}`)).toEqual([
      "PUT /boot-source",
      "PUT /drives/rootfs",
      "PUT /machine-config",
      "PUT /vsock",
      "PUT /actions",
    ]);
    expect(reqs.map((r) => r.definition)).toEqual([
      "BootSource",
      "Drive",
      "MachineConfiguration",
      "Vsock",
      "InstanceActionInfo",
    ]);
    for (const r of reqs) expect(r.errors, r.route).toEqual([]);
    const [boot, drive, machine, vsock, start] = reqs.map((r) => r.body);
    expect(boot!.kernel_image_path).toBe(path.join(img, "vmlinux"));
    expect(boot!.initrd_path).toBe(path.join(img, "initrd.img"));
    // The image's panic=-1 wins; Firecracker's needs are added; the agent listens on vsock.
    expect(boot!.boot_args).toBe(
      "console=ttyS0 root=/dev/vda rw panic=-1 init=/usr/lib/plinth/plinth-agent PLINTH_AGENT_VSOCK=1024 reboot=k pci=off",
    );
    // A copy of the rootfs per VM, never the image's own file.
    expect(drive).toMatchObject({ drive_id: "rootfs", is_root_device: true, is_read_only: false });
    expect(drive!.path_on_host).toBe(path.join(home, "vms", "fc1", "rootfs.ext4"));
    expect(machine).toEqual({ vcpu_count: 2, mem_size_mib: 256, smt: false });
    expect(vsock).toEqual({ guest_cid: 3, uds_path: path.join(home, "vms", "fc1", "vsock.sock") });
    expect(start).toEqual({ action_type: "InstanceStart" });
    // Nothing of the VM is left: its copy of the rootfs went with its state dir.
    expect(existsSync(path.join(home, "vms", "fc1"))).toBe(false);
  }, 60_000);

  it("on --net bridge (in a network namespace of the test's own): the NIC is the VM's TAP, its request valid and before InstanceStart; stop removes the TAP", async () => {
    const img = image("fcnet", ["rootfs", "kernel", "vmlinux"]);
    const ns = `plt-fc-${process.pid}`;
    const log = path.join(dir, "net-requests.jsonl");
    execFileSync("ip", ["netns", "add", ns]);
    try {
      const r = await execa(
        "ip",
        [
          ...["netns", "exec", ns, "node", ...CLI, "run", "--rm", "--vmm", "firecracker"],
          ...["--net", "bridge", "--dns", "192.0.2.53", "--name", "fcnet", img, "--", "echo", "up"],
        ],
        { env: { ...process.env, PLINTH_FC_STANDIN_LOG: log }, reject: false },
      );
      expect(r.stdout, r.stderr).toBe("up");
      const reqs = readFileSync(log, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Logged);
      expect(reqs.map((q) => `${q.method} ${q.route}`)).toEqual([
        "PUT /boot-source",
        "PUT /drives/rootfs",
        "PUT /machine-config",
        "PUT /network-interfaces/eth0",
        "PUT /vsock",
        "PUT /actions",
      ]);
      for (const q of reqs) expect(q.errors, q.route).toEqual([]);
      expect(reqs[3]!.definition).toBe("NetworkInterface");
      // The stand-in checked that the TAP existed when Firecracker would have opened it.
      expect(reqs[3]!.body).toEqual({
        iface_id: "eth0",
        host_dev_name: "pt0ad50002",
        guest_mac: "02:70:6c:d5:00:02",
      });
      expect(reqs[0]!.body.boot_args).toContain(
        "plinth.ip=10.213.0.2/24 plinth.gateway=10.213.0.1 plinth.dns=192.0.2.53",
      );
      const links = execFileSync("ip", ["-n", ns, "-o", "link"], { encoding: "utf8" });
      expect(links).toContain("plinth0");
      expect(links).not.toContain("pt0ad50002");
    } finally {
      execFileSync("ip", ["netns", "del", ns]);
    }
  }, 60_000);

  it("the stand-in is not a yes-man: a body off the swagger is refused 400, and so is a resource after start", async () => {
    const img = image("fcimg2", ["rootfs", "kernel", "vmlinux"]);
    const vm = await Machine.start({ image: img, vmm: "firecracker", name: "fc2", memMiB: 128 });
    try {
      const api = path.join(home, "vms", "fc2", "firecracker.sock");
      await expect(
        apiPut(api, "/machine-config", { vcpu_count: "2", mem_size_mib: 128 }),
      ).rejects.toThrow(
        /Firecracker refused PUT \/machine-config \(400\): .*vcpu_count must be integer/,
      );
      await expect(
        apiPut(api, "/drives/rootfs", {
          drive_id: "rootfs",
          path_on_host: "/x",
          is_root_device: true,
          is_read_only: true,
        }),
      ).rejects.toThrow(/not supported after starting the microVM/);
      // Ctrl-Alt-Del (what stop falls back to) ends the VM.
      await apiPut(api, "/actions", { action_type: "SendCtrlAltDel" });
      for (let i = 0; i < 100 && vm.config.pid && existsSync(`/proc/${vm.config.pid}`); i++)
        await new Promise((r) => setTimeout(r, 50));
      expect(await vm.stop(2000)).toBe("gone");
    } finally {
      await vm.kill();
      await vm.remove();
    }
  }, 60_000);

  it("refuses, before anything is made, what Firecracker cannot do: no vmlinux, --net, --boot disk, no binary", async () => {
    const noVmlinux = image("novmlinux", ["rootfs", "kernel"]);
    await expect(Machine.start({ image: noVmlinux, vmm: "firecracker" })).rejects.toMatchObject({
      code: "NO_VMLINUX",
    });
    const img = image("fcimg3", ["rootfs", "kernel", "vmlinux"]);
    await expect(
      Machine.start({ image: img, vmm: "firecracker", net: { forwards: [] } }),
    ).rejects.toMatchObject({
      code: "FIRECRACKER_NET",
    });
    await expect(
      Machine.start({ image: img, vmm: "firecracker", boot: "disk" }),
    ).rejects.toMatchObject({ code: "FIRECRACKER_BOOT" });
    const systemd = image("fcsystemd", ["rootfs", "kernel", "vmlinux"], { init: "systemd" });
    await expect(Machine.start({ image: systemd, vmm: "firecracker" })).rejects.toMatchObject({
      code: "FIRECRACKER_INIT",
    });
    process.env.PLINTH_FIRECRACKER = path.join(dir, "no-such-firecracker");
    await expect(Machine.start({ image: img, vmm: "firecracker" })).rejects.toMatchObject({
      code: "NO_FIRECRACKER",
    });
    expect(existsSync(path.join(home, "vms")) ? readdirSync(path.join(home, "vms")) : []).toEqual(
      [],
    );
  });
});
