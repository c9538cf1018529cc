import type { ChildProcess } from "node:child_process";
import { existsSync, statSync, readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { AgentClient } from "../agent/client/index.js";
import { READY_MARKER } from "../contract.js";
import { BootError, CancelledError, NoAgentError, PlinthError, UserError } from "../errors.js";
import { noEvents, type EventSink } from "../events.js";
import { requireTools } from "../host/tools.js";
import { readMetadata, type ImageMetadata } from "../image/metadata.js";
import { chooseAccel, type AccelRequest } from "./accel.js";
import { sleep, type Launch, type SnapshotHooks, type Vmm, type VmDriver } from "./driver.js";
import { FirecrackerDriver, firecrackerLaunch } from "./firecracker/driver.js";
import { formatIpv4, parseIpv4 } from "../net/address.js";
import {
  attachBridge,
  nicCmdline,
  planBridge,
  releaseBridge,
  type BridgeNic,
  type BridgeOptions,
  type BridgePlan,
} from "../net/bridge.js";
import { hasTun, hostResolvers } from "../net/host.js";
import { hostTscKhz, qemuArgv, type PortForward } from "./qemu/argv.js";
import { bootSource, createOverlay, kernelBoot, QemuDriver } from "./qemu/driver.js";
import {
  claimVm,
  isAlive,
  readVm,
  removeVm,
  vmIsLive,
  vmPaths,
  writeVm,
  type VmConfig,
  type VmPaths,
  type VmShape,
} from "./state.js";

export type BootMode = "kernel" | "disk";

export type NetOptions =
  { mode?: "user"; forwards?: PortForward[] } | ({ mode: "bridge" } & BridgeOptions);

export interface RestoreOptions {
  /** The base image's directory. */
  image: string;
  /** The saved memory and device state, and the frozen disk the new overlay sits on. */
  state: string;
  disk: string;
  /** The snapshot these come from (kept in the VM's state for `ps`). */
  from: string;
  name?: string;
  accel: VmConfig["accel"];
  memMiB: number;
  cpus: number;
  shape: VmShape;
  detach?: boolean;
  readyTimeoutMs?: number;
}

export interface StartOptions {
  /** Image directory (holding metadata.json). */
  image: string;
  name?: string;
  accel?: AccelRequest;
  memMiB?: number;
  cpus?: number;
  /** Outlive this process (`plinth run -d`); otherwise QEMU is killed when this process dies. */
  detach?: boolean;
  /** `qemu` (default) or `firecracker` (needs KVM and a `firecracker` binary; see docs/cli.md). */
  vmm?: Vmm;
  /** Per boot attempt. */
  readyTimeoutMs?: number;
  /** Kill and retry a guest whose console is silent this long before it is ready. */
  silenceMs?: number;
  retries?: number;
  /** Extra virtio-serial ports (benchmarks: a raw echo channel, qemu-guest-agent). */
  extraPorts?: string[];
  /** Appended to the image's kernel command line (e.g. plinth.ip=…, plinth.ssh_key="…"). */
  append?: string;
  /**
   * A NIC: on QEMU's user-mode network (10.0.2.0/24, gateway .2, DNS .3), or on a host
   * bridge plinth makes, with an address from its pool and egress rules (docs/networking.md).
   */
  net?: NetOptions;
  /**
   * `kernel` (default): the image's kernel on microvm, root from rootfs.ext4. `disk`: the
   * image's UEFI disk (the `disk` output) under OVMF on q35, through its own boot loader.
   */
  boot?: BootMode;
  onEvent?: EventSink;
  signal?: AbortSignal;
}

export interface BootReport {
  /** Host wall time from starting QEMU to the agent answering (or the ready marker). */
  readyMs: number;
  attempts: number;
}

/**
 * One VM: a VMM process (through its driver), its state dir under $PLINTH_HOME/vms/<name>,
 * and the agent channel. Start boots until the guest agent answers hello (images without
 * the agent: until the ready marker on the console). Stop is agent shutdown → the VMM's
 * power-off (ACPI, Ctrl-Alt-Del) → kill.
 */
export class Machine {
  private client: AgentClient | undefined;

  private constructor(
    readonly config: VmConfig,
    readonly paths: VmPaths,
    readonly meta: ImageMetadata,
    private readonly driver: VmDriver,
  ) {}

  /** How the boot went; set by `start`, absent after `attach`. */
  boot?: BootReport;

  get name(): string {
    return this.config.name;
  }

  get hasAgent(): boolean {
    return this.meta.agent;
  }

  static async start(o: StartOptions): Promise<Machine> {
    const vmm = o.vmm ?? "qemu";
    requireTools(vmm === "qemu" ? ["qemu-system-x86_64", "qemu-img", "setpriv"] : ["setpriv"]);
    const emit = o.onEvent ?? noEvents;
    const meta = await readMetadata(o.image);
    const accel =
      vmm === "qemu" ? await chooseAccel(o.accel ?? "auto", path.join(o.image, "vmlinuz")) : "kvm";
    const name = o.name ?? defaultVmName(meta.name);
    const memMiB = o.memMiB ?? 1024;
    const cpus = o.cpus ?? 1;
    // Refusals (no disk, --append with a disk, a bad egress rule…) come before the VM's dir is claimed.
    const bridge = o.net?.mode === "bridge" ? checkBridge(o.net, o) : undefined;
    const launch =
      vmm === "qemu"
        ? qemuLaunch(o, meta, vmPaths(name), accel, memMiB, cpus)
        : firecrackerLaunch(o, meta, memMiB, cpus);
    const paths = await claimVm(name);
    let config: VmConfig | undefined;
    let nic: BridgeNic | undefined;
    const retries = o.retries ?? 2;
    let why = "";
    try {
      nic =
        bridge &&
        (await attachBridge(name, bridge, {
          resolvers: resolversFor(bridge, meta),
          isLive: vmIsLive,
          onEvent: emit,
        }));
      // The NIC's keys first: an --append holding `--` (init's arguments follow) cannot hide them.
      const append = [nic && nicCmdline(nic), o.append].filter(Boolean).join(" ") || undefined;
      const made = launch.create(paths, { nic, append });
      config = newConfig(name, o.image, meta, {
        accel,
        memMiB,
        cpus,
        detached: !!o.detach,
        shape: made.shape,
        ...(vmm === "qemu" ? {} : { vmm }),
        ...(nic ? { network: networkRecord(nic) } : {}),
      });
      const driver = made.driver;
      for (let attempt = 1; attempt <= retries + 1; attempt++) {
        if (o.signal?.aborted) break;
        await rm(paths.consoleLog, { force: true });
        await driver.prepare();
        const t0 = performance.now();
        const m = new Machine(config, paths, meta, driver);
        const child = await driver.start(!!o.detach);
        config.pid = child.pid;
        await writeVm(config);
        const outcome = await m.waitReady(child, o);
        if (outcome.ok) {
          if (o.detach) child.unref();
          m.boot = { readyMs: performance.now() - t0, attempts: attempt };
          await m.recordAgent();
          return m;
        }
        why = outcome.why;
        await m.kill();
        // Between attempts the claim, not a dead pid, says the VM is still held.
        delete config.pid;
        await writeVm(config);
        emit({
          type: "log",
          level: "warn",
          message: `boot attempt ${attempt} failed (${why}); ${attempt <= retries ? "retrying" : "giving up"}`,
        });
      }
    } catch (error) {
      await killPid(config?.pid);
      await releaseNetwork(nic);
      await removeVm(name);
      throw error;
    }
    const tail = consoleTail(paths.consoleLog);
    await releaseNetwork(nic);
    await removeVm(name);
    if (o.signal?.aborted) throw new CancelledError("boot");
    throw new BootError(
      `The guest did not come up after ${retries + 1} attempts (${why}).`,
      `Last console lines:\n${tail}`,
    );
  }

  /** A running VM started by another plinth process. */
  static async attach(name: string): Promise<Machine> {
    const config = readVm(name);
    if (!isAlive(config.pid)) {
      // State plinth kept on purpose (`stop --keep`) stays; a VM that died is stale.
      if (config.status !== "exited") await removeVm(name);
      throw new PlinthError("VM_GONE", `VM "${name}" is not running any more.`);
    }
    const paths = vmPaths(name);
    const driver =
      config.vmm === "firecracker" ? new FirecrackerDriver(paths) : new QemuDriver(paths);
    const m = new Machine(config, paths, await readMetadata(config.image), driver);
    // A snapshot whose plinth died while the guest was paused: nobody else will resume it.
    if (config.pausedBy && !isAlive(config.pausedBy, "")) await m.resumeAfterSave();
    return m;
  }

  /**
   * A VM loaded from a saved state (`saveState`) instead of booted: same kernel, command
   * line, memory and devices as the VM that was saved, its disk a new overlay on the saved
   * one. Ready when the agent answers; the caller then gives it its own identity.
   */
  static async restore(o: RestoreOptions): Promise<Machine> {
    requireTools(["qemu-system-x86_64", "qemu-img", "setpriv"]);
    const meta = await readMetadata(o.image);
    const rootfs = meta.artifacts.find((a) => a.kind === "rootfs");
    if (o.shape.boot !== "kernel" || !rootfs)
      throw new UserError(
        "SNAPSHOT_BOOT",
        "Only a VM booted from the image's kernel can be restored.",
        {
          hint: "Snapshot a VM started without --boot disk.",
        },
      );
    const name = o.name ?? defaultVmName(meta.name);
    const paths = await claimVm(name);
    const config = newConfig(name, o.image, meta, {
      accel: o.accel,
      memMiB: o.memMiB,
      cpus: o.cpus,
      detached: !!o.detach,
      shape: o.shape,
      restoredFrom: o.from,
    });
    try {
      await createOverlay(o.disk, paths.overlay, { format: "qcow2", size: rootfs.size });
      const argv = qemuArgv({
        accel: o.accel,
        boot: kernelBoot(o.image, meta, o.shape.cmdline),
        memMiB: o.memMiB,
        cpus: o.cpus,
        tscKhz: o.shape.tscKhz,
        paths,
        extraPorts: o.shape.extraPorts,
        // Forwards stay with the VM that was saved: their host ports are taken.
        net: o.shape.net ? {} : undefined,
        backing: [
          { file: o.disk, format: "qcow2" },
          { file: path.resolve(o.image, rootfs.name), format: "raw" },
        ],
        // The state file is QEMU's fd 3: no shell, no path to quote.
        incoming: "fd:3",
      });
      const driver = new QemuDriver(paths, {
        argv,
        prepare: () => Promise.resolve(),
        stateFile: o.state,
      });
      const t0 = performance.now();
      const child = await driver.start(!!o.detach);
      // Whatever waits below gives up when QEMU exits.
      const ac = new AbortController();
      const exited = new Promise<never>((_, reject) =>
        child.once("exit", (code, sig) => {
          ac.abort();
          reject(
            new BootError(`QEMU could not load the snapshot (${code ?? sig}): ${driver.error()}`),
          );
        }),
      );
      exited.catch(() => undefined);
      config.pid = child.pid;
      await writeVm(config);
      const m = new Machine(config, paths, meta, driver);
      const timeoutMs = o.readyTimeoutMs ?? 60_000;
      try {
        await Promise.race([driver.snapshots.load(timeoutMs, ac.signal), exited]);
        if (meta.agent) {
          await Promise.race([m.connectAgent(timeoutMs, ac.signal), exited]);
          await m.recordAgent();
        }
      } finally {
        ac.abort();
      }
      child.removeAllListeners("exit");
      if (o.detach) child.unref();
      m.boot = { readyMs: performance.now() - t0, attempts: 1 };
      return m;
    } catch (error) {
      await killPid(config.pid);
      await removeVm(name);
      throw error;
    }
  }

  private async recordAgent(): Promise<void> {
    const hello = this.client?.agent;
    if (!hello) return;
    this.config.agent = { version: hello.version, protocol: hello.protocol };
    await writeVm(this.config);
  }

  /**
   * Pause the guest and write its memory and device state to `file` (QEMU migration to a
   * file). It stays paused, its disk quiesced, until resumeAfterSave(): the caller copies
   * the overlay in between. A plinth killed meanwhile leaves pausedBy behind for attach.
   */
  async saveState(file: string): Promise<void> {
    const hooks = this.requireSnapshots();
    // One save at a time: another live plinth saving this VM is refused, not cancelled.
    const by = readVm(this.name).pausedBy;
    if (by && by !== process.pid && isAlive(by, ""))
      throw new UserError(
        "SNAPSHOT_BUSY",
        `VM "${this.name}" is being snapshotted by process ${by}.`,
        {
          hint: "Wait for that snapshot to finish, then try again.",
        },
      );
    await writeVm(Object.assign(this.config, { pausedBy: process.pid }));
    await hooks.save(file);
  }

  /** Run the guest again after saveState (or after a plinth that paused it died). */
  async resumeAfterSave(): Promise<void> {
    await this.requireSnapshots().resume();
    delete this.config.pausedBy;
    await writeVm(this.config);
  }

  /** The VMM's snapshot hooks; a VMM without them is refused in one sentence. */
  requireSnapshots(): SnapshotHooks {
    const hooks = this.driver.snapshots;
    if (!hooks)
      throw new UserError(
        "SNAPSHOT_VMM",
        `VM "${this.name}" runs on ${this.driver.vmm}, which plinth cannot snapshot yet.`,
        { hint: "Snapshot a VM started with the default --vmm qemu." },
      );
    return hooks;
  }

  private async waitReady(
    child: ChildProcess,
    o: StartOptions,
  ): Promise<{ ok: true } | { ok: false; why: string }> {
    const readyTimeoutMs = o.readyTimeoutMs ?? 180_000;
    const silenceMs = o.silenceMs ?? 45_000;
    const ac = new AbortController();
    const stopOn = (signal?: AbortSignal) =>
      signal?.addEventListener("abort", () => ac.abort(), { once: true });
    stopOn(o.signal);
    const exited = new Promise<{ ok: false; why: string }>((resolve) =>
      child.once("exit", (code, sig) =>
        resolve({
          ok: false,
          why: `${this.driver.vmm} exited (${code ?? sig}): ${this.driver.error()}`,
        }),
      ),
    );
    const watchdog = new Promise<{ ok: false; why: string }>((resolve) => {
      const t0 = performance.now();
      let size = -1;
      let lastGrowth = t0;
      const timer = setInterval(() => {
        const now = performance.now();
        const s = existsSync(this.paths.consoleLog) ? statSync(this.paths.consoleLog).size : 0;
        if (s !== size) [size, lastGrowth] = [s, now];
        const why = ac.signal.aborted
          ? "cancelled"
          : now - lastGrowth > silenceMs
            ? `console silent for ${silenceMs / 1000} s`
            : now - t0 > readyTimeoutMs
              ? `not ready after ${readyTimeoutMs / 1000} s`
              : undefined;
        if (why) resolve({ ok: false, why });
      }, 250);
      ac.signal.addEventListener("abort", () => clearInterval(timer), { once: true });
    });
    const ready = this.meta.agent
      ? this.connectAgent(readyTimeoutMs, ac.signal, true).then(() => ({ ok: true as const }))
      : waitForMarker(this.paths.consoleLog, ac.signal).then(() => ({ ok: true as const }));
    try {
      return await Promise.race([ready, exited, watchdog]);
    } catch (error) {
      return { ok: false, why: error instanceof Error ? error.message : String(error) };
    } finally {
      ac.abort();
    }
  }

  private async connectAgent(
    timeoutMs: number,
    signal?: AbortSignal,
    firstBoot = false,
  ): Promise<AgentClient> {
    const sock = await this.driver.agentStream(signal);
    // At first boot QEMU holds our bytes until the agent opens its port, so one hello is
    // enough. On a later connection the agent may still be finishing the previous host's
    // session: hello is then retried, with padding that resynchronises the stream.
    this.client = await AgentClient.connect(sock, {
      timeoutMs,
      retryMs: firstBoot ? timeoutMs : 1000,
      clientName: `plinth vm ${this.name}`,
    });
    return this.client;
  }

  /** The agent client, connected on first use. */
  async agent(): Promise<AgentClient> {
    if (!this.meta.agent)
      throw new NoAgentError(`VM "${this.name}"`, `${this.meta.name} ${this.meta.version}`);
    return this.client ?? this.connectAgent(30_000);
  }

  /** Close the agent connection; the VM keeps running and the next agent() reconnects. */
  async disconnect(): Promise<void> {
    await this.client?.close().catch(() => undefined);
    this.client = undefined;
  }

  /**
   * Agent shutdown → ACPI power-off → SIGKILL. Whichever request is accepted gets the
   * rest of `timeoutMs` to finish (a systemd guest under TCG takes seconds to power off).
   */
  async stop(timeoutMs = 30_000): Promise<"agent" | "acpi" | "killed" | "gone"> {
    const how = await this.powerDown(timeoutMs);
    await releaseNetwork(this.config.network);
    return how;
  }

  private async powerDown(timeoutMs: number): Promise<"agent" | "acpi" | "killed" | "gone"> {
    const pid = this.config.pid;
    if (!isAlive(pid)) return "gone";
    await writeVm({ ...this.config, status: "exited" });
    const deadline = performance.now() + timeoutMs;
    const left = () => Math.max(0, deadline - performance.now());
    const requests: ["agent" | "acpi", () => Promise<unknown>][] = [
      ["acpi", () => this.driver.powerOff()],
    ];
    if (this.meta.agent) {
      requests.unshift([
        "agent",
        async () => (this.client ?? (await this.connectAgent(5000))).shutdown(),
      ]);
    }
    for (const [how, request] of requests) {
      try {
        await withTimeout(request(), Math.min(5000, left()));
      } catch {
        continue; // not accepted: try the next way
      }
      if (await waitExit(pid, left())) return how;
    }
    await this.kill();
    return "killed";
  }

  async kill(): Promise<void> {
    await this.client?.close().catch(() => undefined);
    this.client = undefined;
    await killPid(this.config.pid);
  }

  /** Remove the VM's state dir (overlay, sockets, console log) and free its network. */
  async remove(): Promise<void> {
    await this.client?.close().catch(() => undefined);
    await releaseNetwork(this.config.network);
    await removeVm(this.name);
  }
}

/** QEMU's launch for StartOptions: what it boots, its argv, and the shape a snapshot records. */
function qemuLaunch(
  o: StartOptions,
  meta: ImageMetadata,
  paths: VmPaths,
  accel: VmConfig["accel"],
  memMiB: number,
  cpus: number,
): Launch {
  bootSource(o, meta, paths.dir); // its refusals, now
  const tscKhz = hostTscKhz();
  return {
    create: (p, { nic, append }) => {
      const boot = bootSource({ ...o, append }, meta, p.dir);
      const userNet = o.net?.mode === "bridge" ? undefined : o.net;
      const argv = qemuArgv({
        accel,
        boot: boot.qemu,
        memMiB,
        cpus,
        tscKhz,
        paths: p,
        extraPorts: o.extraPorts,
        net: nic ? { tap: nic.tap, mac: nic.mac } : userNet && { forwards: userNet.forwards },
      });
      return {
        shape: {
          boot: o.boot ?? "kernel",
          cmdline: "cmdline" in boot.qemu ? boot.qemu.cmdline : "",
          tscKhz,
          net: !!userNet,
          extraPorts: o.extraPorts ?? [],
        },
        driver: new QemuDriver(p, {
          argv,
          prepare: async () => {
            await rm(p.overlay, { force: true });
            await boot.prepare();
          },
        }),
      };
    },
  };
}

/** `--net bridge`'s own checks and host needs, before anything is made. */
function checkBridge(net: BridgeOptions, o: StartOptions): BridgePlan {
  const plan = planBridge(net);
  if (o.boot === "disk")
    throw new UserError(
      "BRIDGE_BOOT",
      "--net bridge gives the guest its address on the kernel command line, which a disk boot does not take.",
      { hint: "Drop --boot disk, or use --net user." },
    );
  if (/(^|\s)plinth\.(ip|gateway)=/.test(o.append ?? ""))
    throw new UserError(
      "APPEND_ON_BRIDGE",
      "--net bridge leases the guest's address and gateway itself; --append cannot set them too.",
      { hint: "Drop plinth.ip= and plinth.gateway= from --append (or use --net user)." },
    );
  requireTools(["ip", "nft", "conntrack"]);
  if (!hasTun())
    throw new UserError("NO_TUN", "--net bridge needs /dev/net/tun, and this host has none.", {
      hint: "Load the tun module (`modprobe tun`); `plinth doctor` checks it.",
    });
  return plan;
}

/**
 * The guest's resolvers: --dns, else the image's own `dns`, else the host's. Only IPv4
 * ones: they become nft rules, and the bridge routes nothing else.
 */
function resolversFor(plan: BridgePlan, meta: ImageMetadata): string[] {
  const ipv4 = (xs?: string[]) => xs?.filter((x) => parseIpv4(x) !== undefined);
  const image = ipv4(meta.spec.dns);
  return plan.dns ?? (image?.length ? image : hostResolvers());
}

function networkRecord(nic: BridgeNic): NonNullable<VmConfig["network"]> {
  return {
    bridge: nic.bridge,
    ip: formatIpv4(nic.ip),
    mac: nic.mac,
    tap: nic.tap,
    lease: nic.lease,
    restricted: nic.restricted,
  };
}

/** Free a VM's bridge lease (a VM on user networking has none). */
async function releaseNetwork(nic: { bridge: string; lease: string } | undefined): Promise<void> {
  if (nic) await releaseBridge(nic.bridge, nic.lease);
}

function newConfig(
  name: string,
  image: string,
  meta: ImageMetadata,
  rest: Pick<
    VmConfig,
    "accel" | "memMiB" | "cpus" | "detached" | "shape" | "restoredFrom" | "vmm" | "network"
  >,
): VmConfig {
  return {
    name,
    image,
    imageName: meta.name,
    imageVersion: meta.version,
    created: new Date().toISOString(),
    status: "running",
    ...rest,
  };
}

function defaultVmName(image: string): string {
  return `${image.slice(0, 56)}-${randomBytes(3).toString("hex")}`;
}

export function consoleTail(file: string, lines = 15): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

async function waitForMarker(file: string, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    if (existsSync(file) && readFileSync(file, "utf8").includes(READY_MARKER)) return;
    await sleep(100);
  }
  throw new Error("cancelled");
}

async function waitExit(pid: number | undefined, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (!isAlive(pid)) return true;
    await sleep(100);
  }
  return !isAlive(pid);
}

async function killPid(pid: number | undefined): Promise<void> {
  if (!isAlive(pid)) return;
  try {
    process.kill(pid!, "SIGKILL");
  } catch {
    return;
  }
  await waitExit(pid, 5000);
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, sleep(ms).then(() => Promise.reject(new Error("timeout")))]);
}
