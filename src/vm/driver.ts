import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import net from "node:net";
import type { Duplex } from "node:stream";
import type { BridgeNic } from "../net/bridge.js";
import type { VmPaths, VmShape } from "./state.js";

/**
 * A VMM's launch for one start: checked (its refusals thrown) before the VM's dir is
 * claimed, made once the dir and the VM's NIC exist.
 */
export interface Launch {
  /** `append`: the caller's kernel arguments and the NIC's (`plinth.ip=`…), joined. */
  create(
    paths: VmPaths,
    net: { nic?: BridgeNic; append?: string },
  ): { shape: VmShape; driver: VmDriver };
}

/** The VMMs plinth drives; each is a folder under src/vm/ with a VmDriver. */
export type Vmm = "qemu" | "firecracker";

/**
 * What Machine needs of a VMM. Machine owns the VM's state dir, boot retries, the agent
 * client and the stop order (agent → VMM power-off → kill); a driver starts its VMM,
 * hands out streams to the guest agent and knows its VMM's power button.
 */
export interface VmDriver {
  readonly vmm: Vmm;
  /** Before each boot attempt: a fresh writable disk (and firmware state). */
  prepare(): Promise<void>;
  /** Start the VMM process (Firecracker: also configure it through its API and start the guest). */
  start(detach: boolean): Promise<ChildProcess>;
  /** A new byte stream to the guest agent, once the VMM accepts one. */
  agentStream(signal?: AbortSignal): Promise<Duplex>;
  /** Ask the guest to power off through the VMM (ACPI; Firecracker: Ctrl-Alt-Del). */
  powerOff(): Promise<void>;
  /** The VMM's first error line, for messages. */
  error(): string;
  /** Save/load of the machine's state; absent where plinth cannot snapshot (yet). */
  readonly snapshots?: SnapshotHooks;
}

export interface SnapshotHooks {
  /** Pause the guest and write its state to `file`; it stays paused. */
  save(file: string): Promise<void>;
  resume(): Promise<void>;
  /** Wait for an incoming state to be loaded, then run the guest. */
  load(timeoutMs: number, signal?: AbortSignal): Promise<void>;
}

/**
 * Start a VMM process with its stderr in `log`. An attached VM gets SIGKILL when this
 * process dies, however it dies (setpriv --pdeathsig): no orphans.
 */
export function spawnVmm(
  argv: string[],
  o: { detach: boolean; stdout?: string; stderr: string; fd3?: number; cwd?: string },
): ChildProcess {
  const err = openSync(o.stderr, "w");
  const out = o.stdout ? openSync(o.stdout, "a") : "ignore";
  const full = o.detach ? argv : ["setpriv", "--pdeathsig", "KILL", "--", ...argv];
  const stdio: (number | "ignore")[] = ["ignore", out, err];
  if (o.fd3 !== undefined) stdio.push(o.fd3);
  const child = spawn(full[0]!, full.slice(1), { detached: o.detach, stdio, cwd: o.cwd });
  // A binary that cannot start emits 'error' (and no exit): the caller's wait times out.
  child.on("error", () => undefined);
  closeSync(err);
  if (typeof out === "number") closeSync(out);
  return child;
}

export function firstLine(file: string): string {
  try {
    return readFileSync(file, "utf8").trim().split("\n")[0] ?? "";
  } catch {
    return "";
  }
}

/** Connect to a Unix socket, waiting for it to appear and accept. */
export async function connectUnix(file: string, signal?: AbortSignal): Promise<net.Socket> {
  for (;;) {
    if (signal?.aborted) throw new Error("cancelled");
    if (existsSync(file)) {
      const sock = await new Promise<net.Socket | undefined>((resolve) => {
        const s = net.connect(file);
        s.once("connect", () => resolve(s));
        s.once("error", () => resolve(undefined));
      });
      if (sock) return sock;
    }
    await sleep(50);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
