import { resolveImage } from "../builder/build.js";
import type { AgentClient, ExecOptions, ExecResult } from "../agent/client/index.js";
import type { EventSink } from "../events.js";
import type { AccelRequest } from "../vm/accel.js";
import { Machine } from "../vm/machine.js";

export interface SandboxOptions {
  /** VM name (default: image name + random suffix). */
  name?: string;
  accel?: AccelRequest;
  memMiB?: number;
  cpus?: number;
  /** Appended to the kernel command line: plinth.ip=, plinth.ssh_key="…", … */
  append?: string;
  /** A NIC on QEMU's user-mode network, with 127.0.0.1 → guest TCP forwards. */
  net?: { forwards?: { host: number; guest: number }[] };
  /** Keep running after this process exits (reconnect with Sandbox.connect). */
  detach?: boolean;
  /** When `image` is a spec file: `--set` style overrides. */
  sets?: string[];
  onEvent?: EventSink;
  signal?: AbortSignal;
}

/**
 * A booted VM driven through its agent: the SDK's one class.
 *
 *   const sb = await Sandbox.start("examples/minimal.yaml");
 *   const { stdout } = await sb.exec("uname -a");
 *   await sb.stop();
 */
export class Sandbox {
  private constructor(
    readonly machine: Machine,
    private readonly client: AgentClient,
  ) {}

  /** Boot `image`: an image directory, `name[:version]` from the store, or a spec file (built if needed). */
  static async start(image: string, options: SandboxOptions = {}): Promise<Sandbox> {
    const { imageDir: dir } = await resolveImage(image, {
      sets: options.sets,
      onEvent: options.onEvent,
      signal: options.signal,
    });
    const machine = await Machine.start({ image: dir, ...options });
    try {
      return new Sandbox(machine, await machine.agent());
    } catch (error) {
      await machine.kill();
      await machine.remove();
      throw error;
    }
  }

  /** A sandbox another process started with `detach`. */
  static async connect(id: string): Promise<Sandbox> {
    const machine = await Machine.attach(id);
    return new Sandbox(machine, await machine.agent());
  }

  get id(): string {
    return this.machine.name;
  }

  /** Milliseconds from starting QEMU to the agent answering (undefined after connect). */
  get bootMs(): number | undefined {
    return this.machine.boot?.readyMs;
  }

  get files(): AgentClient["files"] {
    return this.client.files;
  }

  /** Run a command: a string goes through /bin/sh, an array is argv. Never throws on a non-zero exit unless `reject`. */
  exec(
    command: string | string[],
    options: ExecOptions & { encoding?: "utf8" } = {},
  ): Promise<ExecResult<string>> {
    return this.client.exec(command, { ...options, encoding: "utf8" }) as Promise<
      ExecResult<string>
    >;
  }

  info(): ReturnType<AgentClient["info"]> {
    return this.client.info();
  }

  /** Power the VM off (agent, then ACPI, then kill) and remove its state. */
  async stop(): Promise<void> {
    await this.machine.stop();
    await this.machine.remove();
  }
}
