import { mkdtemp, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  firecrackerBootArgs,
  firecrackerConfig,
  writeFirecrackerConfig,
} from "../../src/builder/outputs/firecracker.js";
import { firecrackerSwagger, validateAgainst } from "../fixtures/firecracker-api.js";

/** What plan.ts gives a `init: minimal` image (metadata.json `kernel.cmdline`). */
const IMAGE_CMDLINE = "console=ttyS0 root=/dev/vda rw panic=-1 init=/usr/lib/plinth/plinth-agent";

const plain = () => firecrackerConfig({ kernelCmdline: IMAGE_CMDLINE, cpus: 2, memMiB: 1024 });
const full = () =>
  firecrackerConfig({
    kernelCmdline: IMAGE_CMDLINE,
    cpus: 4,
    memMiB: 2048,
    initrd: true,
    network: { tap: "tap0", mac: "06:00:AC:10:00:02" },
    vsock: { cid: 3, udsPath: "vsock.sock" },
  });

/** Every section of a config against its own definition, and the whole against the full one. */
function problems(config: object): string[] {
  const c = config as Record<string, unknown>;
  const sections: [string, string, unknown[]][] = [
    ["boot-source", "BootSource", [c["boot-source"]]],
    ["drives", "Drive", (c.drives as unknown[]) ?? []],
    ["machine-config", "MachineConfiguration", [c["machine-config"]]],
    ["network-interfaces", "NetworkInterface", (c["network-interfaces"] as unknown[]) ?? []],
    ["vsock", "Vsock", c.vsock ? [c.vsock] : []],
  ];
  return [
    ...sections.flatMap(([key, def, values]) =>
      values.flatMap((v) => validateAgainst(def, v, { closed: true }).map((m) => `${key}: ${m}`)),
    ),
    ...validateAgainst("FullVmConfiguration", config, { closed: true }),
  ];
}

describe("the Firecracker API fixture", () => {
  it("parses, is Firecracker's Swagger 2.0 description, and defines what plinth writes", () => {
    const swagger = firecrackerSwagger();
    expect(swagger.swagger).toBe("2.0");
    expect(swagger.info.version).toMatch(/^1\.\d+/);
    for (const d of [
      "BootSource",
      "Drive",
      "MachineConfiguration",
      "NetworkInterface",
      "Vsock",
      "FullVmConfiguration",
    ])
      expect(swagger.definitions).toHaveProperty(d);
  });

  it("compiles every definition in it, open and closed (for the API stand-in to reuse)", () => {
    for (const d of Object.keys(firecrackerSwagger().definitions)) {
      expect(() => validateAgainst(d, {})).not.toThrow();
      expect(() => validateAgainst(d, {}, { closed: true })).not.toThrow();
    }
    // Swagger's formats are checked too: MmdsConfig gives a pattern as ipv4_address's format.
    const mmds = (ip: string) => ({ network_interfaces: ["eth0"], ipv4_address: ip });
    expect(validateAgainst("MmdsConfig", mmds("169.254.170.2"))).toEqual([]);
    expect(validateAgainst("MmdsConfig", mmds("10.0.0.1"))).toHaveLength(1);
  });

  it("rejects what Firecracker would: wrong types, missing and unknown fields, bad ranges", () => {
    const good = plain();
    expect(problems(good)).toEqual([]);
    const machine = { ...good["machine-config"], vcpu_count: "2" };
    expect(validateAgainst("MachineConfiguration", machine)).toEqual([
      "/vcpu_count must be integer",
    ]);
    expect(validateAgainst("MachineConfiguration", { mem_size_mib: 256 })).toEqual([
      "(the value) must have required property 'vcpu_count'",
    ]);
    expect(validateAgainst("MachineConfiguration", { vcpu_count: 33, mem_size_mib: 256 })).toEqual([
      "/vcpu_count must be <= 32",
    ]);
    expect(validateAgainst("BootSource", { boot_args: "x" })).toEqual([
      "(the value) must have required property 'kernel_image_path'",
    ]);
    expect(validateAgainst("Vsock", { guest_cid: 2, uds_path: "v.sock" })).toEqual([
      "/guest_cid must be >= 3",
    ]);
    // Nested through $ref, and an unknown key refused only when closed (as Firecracker does).
    const misspelt = { ...good, "machine-config": { ...good["machine-config"], vcpus: 2 } };
    expect(validateAgainst("FullVmConfiguration", misspelt)).toEqual([]);
    expect(validateAgainst("FullVmConfiguration", misspelt, { closed: true })).toEqual([
      "/machine-config must NOT have additional properties: vcpus",
    ]);
    const badDrive = { ...good, drives: [{ drive_id: "rootfs", is_root_device: "yes" }] };
    expect(validateAgainst("FullVmConfiguration", badDrive)).toEqual([
      "/drives/0/is_root_device must be boolean",
    ]);
    expect(() => validateAgainst("NoSuchThing", {})).toThrow(/no definition NoSuchThing/);
  });
});

describe("firecrackerConfig", () => {
  it("an image without network or vsock: every section valid, and only those sections", () => {
    const config = plain();
    expect(problems(config)).toEqual([]);
    expect(Object.keys(config).sort()).toEqual(["boot-source", "drives", "machine-config"]);
    expect(config["boot-source"]).toEqual({
      kernel_image_path: "vmlinux",
      boot_args: `${IMAGE_CMDLINE} reboot=k pci=off`,
    });
    expect(config.drives).toEqual([
      {
        drive_id: "rootfs",
        path_on_host: "rootfs.ext4",
        is_root_device: true,
        is_read_only: false,
      },
    ]);
    expect(config["machine-config"]).toEqual({ vcpu_count: 2, mem_size_mib: 1024, smt: false });
  });

  it("with initrd, network and vsock: every section valid", () => {
    const config = full();
    expect(problems(config)).toEqual([]);
    expect(config["boot-source"].initrd_path).toBe("initrd.img");
    expect(config["network-interfaces"]).toEqual([
      { iface_id: "eth0", host_dev_name: "tap0", guest_mac: "06:00:AC:10:00:02" },
    ]);
    expect(config.vsock).toEqual({ guest_cid: 3, uds_path: "vsock.sock" });
    const noMac = firecrackerConfig({ ...baseOptions(), network: { tap: "fc-tap1" } });
    expect(noMac["network-interfaces"]).toEqual([{ iface_id: "eth0", host_dev_name: "fc-tap1" }]);
    expect(problems(noMac)).toEqual([]);
  });

  it("refuses what Firecracker cannot run, in one sentence", () => {
    expect(() => firecrackerConfig({ ...baseOptions(), cpus: 33 })).toThrow(
      "Firecracker runs 1 to 32 vCPUs, not 33.",
    );
    expect(() => firecrackerConfig({ ...baseOptions(), memMiB: 0.5 })).toThrow(/whole number/);
    const vsock = { cid: 2, udsPath: "v.sock" };
    expect(() => firecrackerConfig({ ...baseOptions(), vsock })).toThrow(/CID is 3 or more/);
  });
});

const baseOptions = () => ({ kernelCmdline: IMAGE_CMDLINE, cpus: 1, memMiB: 512 });

describe("firecrackerBootArgs", () => {
  const count = (args: string, param: string) => args.split(" ").filter((p) => p === param).length;

  it("the image's command line, then Firecracker's additions, each exactly once", () => {
    const args = firecrackerBootArgs("root=/dev/vda rw");
    expect(args).toBe("root=/dev/vda rw console=ttyS0 reboot=k panic=1 pci=off");
    for (const p of ["console=ttyS0", "reboot=k", "panic=1", "pci=off"])
      expect(count(args, p)).toBe(1);
    expect(firecrackerBootArgs(args)).toBe(args); // adding twice adds nothing
  });

  it("keeps the image's own values: plinth's panic=-1 stays, and is not doubled", () => {
    const args = firecrackerBootArgs(IMAGE_CMDLINE);
    expect(args.startsWith(IMAGE_CMDLINE)).toBe(true);
    expect(args.split(" ").filter((p) => p.startsWith("panic="))).toEqual(["panic=-1"]);
    expect(count(args, "console=ttyS0")).toBe(1);
  });

  it("adds ttyS0 after another console, before init's arguments, and reads quoted values whole", () => {
    expect(firecrackerBootArgs("console=tty0 quiet")).toBe(
      "console=tty0 quiet console=ttyS0 reboot=k panic=1 pci=off",
    );
    expect(firecrackerBootArgs("console=ttyS0,115200 root=/dev/vda -- --debug panic=3")).toBe(
      "console=ttyS0,115200 root=/dev/vda reboot=k panic=1 pci=off -- --debug panic=3",
    );
    expect(firecrackerBootArgs('plinth.motd="reboot=x pci=on" rw')).toBe(
      'plinth.motd="reboot=x pci=on" rw console=ttyS0 reboot=k panic=1 pci=off',
    );
  });
});

describe("writeFirecrackerConfig", () => {
  it("writes firecracker.json: sorted keys, two-space indent, newline; the same bytes every time", async () => {
    const [a, b] = [
      await mkdtemp(path.join(os.tmpdir(), "plinth-fc-")),
      await mkdtemp(path.join(os.tmpdir(), "plinth-fc-")),
    ];
    const file = await writeFirecrackerConfig(a, full());
    expect(file).toBe(path.join(a, "firecracker.json"));
    // The same config with its keys given in another order: the same bytes.
    const reordered = Object.fromEntries(Object.entries(full()).reverse());
    await writeFirecrackerConfig(b, reordered);
    const bytes = await readFile(file, "utf8");
    expect(await readFile(path.join(b, "firecracker.json"), "utf8")).toBe(bytes);
    expect(bytes).toBe(GOLDEN);
    expect(JSON.parse(bytes)).toEqual(full());
  });
});

/** firecracker.json for `full()`, byte for byte. */
const GOLDEN = `{
  "boot-source": {
    "boot_args": "console=ttyS0 root=/dev/vda rw panic=-1 init=/usr/lib/plinth/plinth-agent reboot=k pci=off",
    "initrd_path": "initrd.img",
    "kernel_image_path": "vmlinux"
  },
  "drives": [
    {
      "drive_id": "rootfs",
      "is_read_only": false,
      "is_root_device": true,
      "path_on_host": "rootfs.ext4"
    }
  ],
  "machine-config": {
    "mem_size_mib": 2048,
    "smt": false,
    "vcpu_count": 4
  },
  "network-interfaces": [
    {
      "guest_mac": "06:00:AC:10:00:02",
      "host_dev_name": "tap0",
      "iface_id": "eth0"
    }
  ],
  "vsock": {
    "guest_cid": 3,
    "uds_path": "vsock.sock"
  }
}
`;
