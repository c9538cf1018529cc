import { resolveImage } from "../builder/build.js";
import type { AgentClient, AgentInfo, ExecOptions, ExecResult } from "../agent/client/index.js";
import { noEvents, type EventSink } from "../events.js";
import type { Accel, AccelRequest } from "../vm/accel.js";
import type { Vmm } from "../vm/driver.js";
import { Machine, type BootMode, type NetOptions } from "../vm/machine.js";
import { forkSnapshot, restoreSnapshot, type Restored } from "../snapshot/restore.js";
import { takeSnapshot, type SnapshotOptions, type SnapshotResult } from "../snapshot/take.js";
import { SandboxFiles } from "./files.js";
import { SandboxPty, type PtyOptions } from "./pty.js";
import { removeSandbox } from "./sandboxes.js";

export interface SandboxOptions {
  /** VM name (default: image name + random suffix). */
  name?: string;
  accel?: AccelRequest;
  /** `kernel` (default) or `disk`: the image's UEFI disk under OVMF (needs the `disk` output). */
  boot?: BootMode;
  /** `qemu` (default) or `firecracker` (a KVM host with a `firecracker` binary; see docs/cli.md). */
  vmm?: Vmm;
  memMiB?: number;
  cpus?: number;
  /** Appended to the kernel command line: plinth.ip=, plinth.ssh_key="…", … */
  append?: string;
  /**
   * A NIC: `{ forwards }` on QEMU's user-mode network (127.0.0.1 → guest TCP forwards), or
   * `{ mode: "bridge", bridge?, subnet?, dns?, allowEgress?, denyEgress? }` on a host
   * bridge with an address from its pool and egress rules (docs/networking.md).
   */
  net?: NetOptions;
  /** Keep running after this process exits (reconnect with Sandbox.connect; call close()). */
  detach?: boolean;
  /** When `image` is a spec file: `--set` style overrides. */
  sets?: string[];
  /** When `image` is a registry reference: registries spoken to over plain HTTP. */
  insecure?: string[];
  /** Progress: the image build (when `image` is a spec), then a "boot" stage. */
  onEvent?: EventSink;
  /** Cancels building and booting (rejects with CancelledError). */
  signal?: AbortSignal;
}

/** How `start` went; only a sandbox this process started has it. */
export interface SandboxStartInfo {
  /** Resolving the image: building a spec, or finding it in the store. */
  imageMs: number;
  /** The image was already there (a spec with an up-to-date build, a directory, a store ref). */
  imageReused: boolean;
  /** From starting QEMU to the agent answering (images without the agent: the ready marker). */
  bootMs: number;
  /** Boot attempts: more than 1 when the watchdog retried a silent guest. */
  attempts: number;
}

/** How a sandbox stopped: the agent powered it off, ACPI did, it was killed, or it was not running. */
export type StopMethod = "agent" | "acpi" | "killed" | "gone";

export interface StopOptions {
  /** Time for a clean shutdown (agent, then ACPI) before it is killed. Default 30 s. */
  timeoutMs?: number;
  /** Keep the VM's state (console log, overlay) for `plinth logs` / `ps -a` (default: removed). */
  keep?: boolean;
}

export interface SandboxImage {
  /** The image directory the VM boots from. */
  dir: string;
  name: string;
  version: string;
}

/**
 * A booted VM driven through its agent: the SDK's one class.
 *
 *   const sb = await Sandbox.start("examples/minimal.yaml");
 *   const { stdout } = await sb.exec("uname -a");
 *   await sb.stop();
 *
 * An image built with `agent: false` boots too (to its console's ready marker): `exec`,
 * `files` and `info` then reject with NoAgentError; `hasAgent` says so beforehand.
 */
export class Sandbox {
  readonly files: SandboxFiles;
  private client: Promise<AgentClient> | undefined;

  private constructor(
    /** The VM underneath (lower level; the SDK's methods cover what the CLI needs). */
    readonly machine: Machine,
    /** How start went; undefined after connect. */
    readonly started?: SandboxStartInfo,
  ) {
    this.files = new SandboxFiles(async () => (await this.agent()).files);
  }

  /**
   * Boot `image`: an image directory, `name[:version]` from the store, a spec file (built
   * if needed), or a registry reference / metadata.json URL (pulled if needed).
   */
  static async start(image: string, options: SandboxOptions = {}): Promise<Sandbox> {
    const emit = options.onEvent ?? noEvents;
    const t0 = performance.now();
    const resolved = await resolveImage(image, {
      sets: options.sets,
      insecure: options.insecure,
      onEvent: options.onEvent,
      signal: options.signal,
    });
    const imageMs = performance.now() - t0;
    emit({ type: "stage:start", stage: "boot", title: "boot" });
    const tBoot = performance.now();
    let machine: Machine;
    try {
      machine = await Machine.start({
        image: resolved.imageDir,
        name: options.name,
        accel: options.accel,
        boot: options.boot,
        vmm: options.vmm,
        memMiB: options.memMiB,
        cpus: options.cpus,
        append: options.append,
        net: options.net,
        detach: options.detach,
        onEvent: options.onEvent,
        signal: options.signal,
      });
    } catch (error) {
      emit({ type: "stage:fail", stage: "boot", durationMs: performance.now() - tBoot, error });
      throw error;
    }
    const boot = machine.boot!;
    const sb = new Sandbox(machine, {
      imageMs,
      imageReused: resolved.reused,
      bootMs: boot.readyMs,
      attempts: boot.attempts,
    });
    try {
      // Booting waited for the agent's hello already: this is the same connection.
      if (sb.hasAgent) await sb.agent();
    } catch (error) {
      await machine.kill();
      await machine.remove();
      throw error;
    }
    emit({
      type: "stage:end",
      stage: "boot",
      durationMs: boot.readyMs,
      detail: `${sb.accel}, ${sb.hasAgent ? "agent ready" : "ready marker"}`,
    });
    return sb;
  }

  /**
   * A running sandbox, started elsewhere (`detach`, `plinth run -d`). The agent is
   * connected on first use, so `stop()` works even when the agent no longer answers.
   * Rejects with NotFoundError for an unknown name, and `VM_GONE` when its VM is not
   * running any more.
   */
  static async connect(name: string): Promise<Sandbox> {
    return new Sandbox(await Machine.attach(name));
  }

  /**
   * A sandbox running again from a snapshot (a dir, or a name in the store): checked
   * whole and against the version rules first, then loaded with its processes and files
   * as they were, its RNG reseeded and its clock set from the host.
   */
  static async restore(
    snapshot: string,
    options: { name?: string; detach?: boolean; onEvent?: EventSink } = {},
  ): Promise<Sandbox> {
    return Sandbox.restored(await restoreSnapshot(snapshot, options));
  }

  /** `n` independent sandboxes from one snapshot, each with its own RNG, clock and hostname. */
  static async fork(
    snapshot: string,
    n: number,
    options: { name?: string; detach?: boolean; onEvent?: EventSink } = {},
  ): Promise<Sandbox[]> {
    return (await forkSnapshot(snapshot, n, options)).map((r) => Sandbox.restored(r));
  }

  private static restored(r: Restored): Sandbox {
    return new Sandbox(r.machine, {
      imageMs: 0,
      imageReused: true,
      bootMs: r.readyMs,
      attempts: 1,
    });
  }

  /**
   * Save this sandbox (memory, devices, disk) as a snapshot dir; it keeps running unless
   * `stop`. Execs running meanwhile go on here; in a restore of it they are gone (its
   * agent session ends), while processes started detached (setsid, nohup) run on.
   */
  async snapshot(options: Omit<SnapshotOptions, "onEvent"> = {}): Promise<SnapshotResult> {
    const r = await takeSnapshot(this.machine, options);
    if (options.stop) this.client = undefined;
    return r;
  }

  get name(): string {
    return this.machine.name;
  }

  /** The same as `name`. */
  get id(): string {
    return this.machine.name;
  }

  get image(): SandboxImage {
    const { config } = this.machine;
    return { dir: config.image, name: config.imageName, version: config.imageVersion };
  }

  get accel(): Accel {
    return this.machine.config.accel;
  }

  /** The image runs plinth's agent (`agent: true`, the default): exec and files work. */
  get hasAgent(): boolean {
    return this.machine.hasAgent;
  }

  /** Outlives the process that started it. */
  get detached(): boolean {
    return this.machine.config.detached;
  }

  /** Milliseconds from starting QEMU to the agent answering (undefined after connect). */
  get bootMs(): number | undefined {
    return this.started?.bootMs;
  }

  /**
   * Run a command: a string goes through /bin/sh, an array is argv. Resolves
   * `{exitCode, signal, timedOut, durationMs, stdout, stderr}` whatever the exit code;
   * with `reject: true` a failure rejects with AgentExecError.
   */
  async exec(
    command: string | string[],
    options: ExecOptions & { encoding?: "utf8" } = {},
  ): Promise<ExecResult<string>> {
    const client = await this.agent();
    return client.exec(command, { ...options, encoding: "utf8" }) as Promise<ExecResult<string>>;
  }

  /**
   * An interactive terminal: `command` (a string through /bin/sh, an array as argv;
   * default: the user's login shell) on a pseudo-terminal in the guest, like
   * `docker exec -it`. Resolves once the request is sent, with a handle to `write`,
   * `resize`, `kill` it and await `exited`; output comes through `onData` (or `output`).
   *
   *   const term = await sb.pty(undefined, { rows: 40, cols: 120, onData: (b) => process.stdout.write(b) });
   *   await term.write("ls -l\n");
   *   await term.resize(50, 160);
   *   await term.write("exit\n");
   *   const { exitCode } = await term.exited;
   *
   * Needs an image built by a plinth whose agent has terminals (protocol 1.1): an older
   * one rejects with AgentUnsupportedError.
   */
  async pty(command?: string | string[], options: PtyOptions = {}): Promise<SandboxPty> {
    options.signal?.throwIfAborted();
    const client = await this.agent();
    return new SandboxPty(client, command, options);
  }

  async info(): Promise<AgentInfo> {
    return (await this.agent()).info();
  }

  /**
   * Power the VM off (agent, then ACPI, then kill) and remove its state unless `keep`.
   * Resolves how it stopped; "gone" when it was not running any more.
   */
  async stop(options: StopOptions = {}): Promise<StopMethod> {
    const how = await this.machine.stop(options.timeoutMs);
    await this.close();
    if (!options.keep) await removeSandbox(this.name);
    return how;
  }

  /**
   * Disconnect from the agent and leave the VM running (a detached sandbox outlives this
   * process once nothing else holds it). Another exec reconnects.
   */
  async close(): Promise<void> {
    this.client = undefined;
    await this.machine.disconnect();
  }

  /** The agent client, connected once; Machine.agent() rejects with NoAgentError without one. */
  private agent(): Promise<AgentClient> {
    this.client ??= this.machine.agent().catch((error: unknown) => {
      this.client = undefined;
      throw error;
    });
    return this.client;
  }
}
