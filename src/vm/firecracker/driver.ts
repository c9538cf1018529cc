import type { ChildProcess } from "node:child_process";
import { accessSync, constants, existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import path from "node:path";
import type { Duplex } from "node:stream";
import type net from "node:net";
import { firecrackerBootArgs } from "../../builder/outputs/firecracker.js";
import { AGENT_VSOCK_PORT } from "../../contract.js";
import { UserError } from "../../errors.js";
import { run } from "../../host/exec.js";
import { which } from "../../host/tools.js";
import type { ImageMetadata } from "../../image/metadata.js";
import { connectUnix, firstLine, sleep, spawnVmm, type Launch, type VmDriver } from "../driver.js";
import type { VmPaths } from "../state.js";
import { apiPut } from "./api.js";

/** The guest's vsock CID (0-2 are reserved); each VM has its own vsock device. */
const GUEST_CID = 3;

/** The Firecracker binary: $PLINTH_FIRECRACKER, else `firecracker` on PATH. */
export function firecrackerBinary(): string | undefined {
  const env = process.env.PLINTH_FIRECRACKER;
  if (!env) return which("firecracker");
  try {
    accessSync(env, constants.X_OK);
    return path.resolve(env);
  } catch {
    return undefined;
  }
}

export interface FirecrackerLaunch {
  binary: string;
  /** The TAP plinth made for the VM (bridge networking), and the MAC its rules expect. */
  nic?: { tap: string; mac: string };
  kernel: string;
  initrd?: string;
  bootArgs: string;
  rootfs: string;
  memMiB: number;
  cpus: number;
}

/**
 * Firecracker: configured through its API socket (boot source, root drive, machine
 * config, the NIC on plinth's TAP, vsock), then `InstanceStart`. Its serial console is its stdout (the console
 * log); the agent is reached through its vsock's Unix socket (`CONNECT <port>` → `OK`).
 * Each VM boots its own copy of rootfs.ext4: Firecracker has no qcow2 overlay.
 *
 * Not run for real on plinth's CI machine (no KVM, no Firecracker binary): the tests
 * drive it against a stand-in that checks every request against Firecracker's swagger.
 */
export class FirecrackerDriver implements VmDriver {
  readonly vmm = "firecracker";

  constructor(
    private readonly paths: VmPaths,
    private readonly launch?: FirecrackerLaunch,
  ) {}

  async prepare(): Promise<void> {
    await rm(this.paths.rootfs, { force: true });
    await run(["cp", "--reflink=auto", "--sparse=always", this.launch!.rootfs, this.paths.rootfs], {
      stage: "boot",
    });
  }

  async start(detach: boolean): Promise<ChildProcess> {
    const l = this.launch!;
    const p = this.paths;
    for (const f of [p.api, p.vsock]) await rm(f, { force: true });
    const child = spawnVmm([l.binary, "--api-sock", p.api], {
      detach,
      stdout: p.consoleLog,
      stderr: this.log(),
    });
    try {
      await this.waitForApi(child);
      await apiPut(p.api, "/boot-source", {
        kernel_image_path: l.kernel,
        boot_args: l.bootArgs,
        ...(l.initrd ? { initrd_path: l.initrd } : {}),
      });
      await apiPut(p.api, "/drives/rootfs", {
        drive_id: "rootfs",
        path_on_host: p.rootfs,
        is_root_device: true,
        is_read_only: false,
      });
      await apiPut(p.api, "/machine-config", {
        vcpu_count: l.cpus,
        mem_size_mib: l.memMiB,
        smt: false,
      });
      if (l.nic)
        await apiPut(p.api, "/network-interfaces/eth0", {
          iface_id: "eth0",
          host_dev_name: l.nic.tap,
          guest_mac: l.nic.mac,
        });
      await apiPut(p.api, "/vsock", { guest_cid: GUEST_CID, uds_path: p.vsock });
      await apiPut(p.api, "/actions", { action_type: "InstanceStart" });
    } catch (error) {
      child.kill("SIGKILL");
      throw error;
    }
    return child;
  }

  /** Host-initiated vsock: connect to the Unix socket, say `CONNECT <port>`, wait for `OK`. */
  async agentStream(signal?: AbortSignal): Promise<Duplex> {
    for (;;) {
      const sock = await connectUnix(this.paths.vsock, signal);
      sock.write(`CONNECT ${AGENT_VSOCK_PORT}\n`);
      if (await acknowledged(sock)) return sock;
      sock.destroy();
      // Nothing listens in the guest yet: Firecracker closed the connection.
      await sleep(50);
    }
  }

  powerOff(): Promise<void> {
    return apiPut(this.paths.api, "/actions", { action_type: "SendCtrlAltDel" });
  }

  error(): string {
    return firstLine(this.log());
  }

  private log(): string {
    return path.join(this.paths.dir, "firecracker.log");
  }

  private async waitForApi(child: ChildProcess): Promise<void> {
    const deadline = performance.now() + 10_000;
    while (!existsSync(this.paths.api)) {
      if (child.exitCode !== null || performance.now() > deadline)
        throw new UserError(
          "FIRECRACKER_START",
          `Firecracker did not open its API socket: ${this.error() || "no output"}`,
          {
            hint: "Run `plinth doctor`: Firecracker needs /dev/kvm.",
          },
        );
      await sleep(10);
    }
  }
}

/** Resolves true on `OK <port>\n`, false if the connection ends first. */
function acknowledged(sock: net.Socket): Promise<boolean> {
  return new Promise((resolve) => {
    let line = "";
    const onData = (b: Buffer) => {
      line += b.toString("latin1");
      const nl = line.indexOf("\n");
      if (nl < 0) return;
      sock.off("data", onData);
      // The agent never speaks first, so nothing follows the line yet; keep it if it does.
      // (No pause: the client's 'data' listener must find the stream flowing.)
      const rest = line.slice(nl + 1);
      if (rest) sock.unshift(Buffer.from(rest, "latin1"));
      resolve(line.startsWith("OK "));
    };
    sock.on("data", onData);
    sock.once("close", () => resolve(false));
  });
}

/** Checks and launch for `--vmm firecracker`; refusals come before anything is made. */
export function firecrackerLaunch(
  o: {
    image: string;
    accel?: string;
    boot?: "kernel" | "disk";
    append?: string;
    net?: { mode?: string };
    extraPorts?: string[];
  },
  meta: ImageMetadata,
  memMiB: number,
  cpus: number,
): Launch {
  const refuse = (code: string, message: string, hint: string) => {
    throw new UserError(code, message, { hint });
  };
  const binary = firecrackerBinary();
  if (!binary)
    refuse(
      "NO_FIRECRACKER",
      "--vmm firecracker needs a `firecracker` binary, and there is none on PATH (or at $PLINTH_FIRECRACKER).",
      "Install Firecracker on a KVM host (see docs/cli.md, Firecracker), or use --vmm qemu.",
    );
  if (o.accel === "tcg")
    refuse(
      "FIRECRACKER_ACCEL",
      "--vmm firecracker runs on KVM only: it has no emulator like QEMU's TCG.",
      "Drop --accel tcg, or use --vmm qemu.",
    );
  if ((o.boot ?? "kernel") !== "kernel")
    refuse(
      "FIRECRACKER_BOOT",
      "--vmm firecracker boots the image's vmlinux; --boot disk is QEMU's.",
      "Drop --boot disk.",
    );
  if ((o.net && o.net.mode !== "bridge") || o.extraPorts?.length)
    refuse(
      "FIRECRACKER_NET",
      "--vmm firecracker has no user-mode network or extra ports: its NICs are TAP devices.",
      "Use --net bridge with Firecracker, or --vmm qemu for --net user and -p.",
    );
  if (!meta.artifacts.some((a) => a.kind === "vmlinux"))
    refuse(
      "NO_VMLINUX",
      `${meta.name} ${meta.version} has no vmlinux, which Firecracker boots.`,
      "Add `firecracker` (or `vmlinux`) to the spec's outputs and build it again.",
    );
  if (meta.agent && meta.init === "systemd")
    refuse(
      "FIRECRACKER_INIT",
      `${meta.name} ${meta.version} runs its agent under systemd on virtio-serial; --vmm firecracker reaches the agent over vsock, which only an \`init: minimal\` image's agent (PID 1) listens on yet.`,
      "Use --vmm qemu for this image, or build it with `init: minimal`.",
    );
  const image = {
    kernel: path.resolve(o.image, "vmlinux"),
    initrd: meta.artifacts.some((a) => a.kind === "initrd")
      ? path.resolve(o.image, "initrd.img")
      : undefined,
    rootfs: path.resolve(o.image, "rootfs.ext4"),
  };
  return {
    create: (paths, { nic, append }) => {
      const bootArgs = bootArgsFor([meta.kernel.cmdline, append].filter(Boolean).join(" "));
      const launch: FirecrackerLaunch = {
        binary: binary!,
        ...image,
        bootArgs,
        memMiB,
        cpus,
        ...(nic ? { nic: { tap: nic.tap, mac: nic.mac } } : {}),
      };
      return {
        shape: { boot: "kernel", cmdline: bootArgs, net: false, extraPorts: [] },
        driver: new FirecrackerDriver(paths, launch),
      };
    },
  };
}

/**
 * Firecracker's boot_args for `cmdline`. The kernel hands unknown `K=V` parameters to
 * init as its environment: the agent as PID 1 then listens on vsock. They must stand
 * before a `--` (init's arguments).
 */
function bootArgsFor(cmdline: string): string {
  const [kernelArgs, ...initArgs] = cmdline.split(/\s--\s/);
  return firecrackerBootArgs(
    [`${kernelArgs} PLINTH_AGENT_VSOCK=${AGENT_VSOCK_PORT}`, ...initArgs].join(" -- "),
  );
}
