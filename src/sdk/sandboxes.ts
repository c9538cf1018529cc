import { existsSync } from "node:fs";
import { PlinthError, UserError } from "../errors.js";
import { netDown, releaseBridge, type NetDownReport } from "../net/bridge.js";
import {
  isAlive,
  vmIsLive,
  listVms,
  readVm,
  removeVm,
  vmPaths,
  type VmConfig,
} from "../vm/state.js";

/** A sandbox with state on disk: what `plinth ps` lists. */
export type SandboxInfo = VmConfig & { running: boolean };

/**
 * Sandboxes with state on disk: running ones and, with `all`, stopped ones whose state
 * was kept. State a dead VM left behind without being stopped is removed on the way.
 */
export function listSandboxes(options: { all?: boolean } = {}): Promise<SandboxInfo[]> {
  return listVms(!!options.all);
}

/** One sandbox's state; NotFoundError for an unknown name, BAD_NAME for an invalid one. */
export function sandboxInfo(name: string): SandboxInfo {
  const config = readVm(name);
  return { ...config, running: isAlive(config.pid) };
}

/** Whether `name` is running now (false for an unknown name). */
export function isSandboxRunning(name: string): boolean {
  try {
    return sandboxInfo(name).running;
  } catch {
    return false;
  }
}

/**
 * Remove a stopped sandbox's state (console log, overlay, sockets); nothing to do when it
 * has none. Refuses a running one, and says so when its directory holds files plinth did
 * not create (those are kept).
 */
export async function removeSandbox(name: string): Promise<void> {
  const { dir } = vmPaths(name);
  if (!existsSync(dir)) return;
  if (isSandboxRunning(name))
    throw new UserError("VM_RUNNING", `VM "${name}" is running.`, {
      hint: `Stop it first: plinth stop ${name}`,
    });
  await releaseSandboxNetwork(name);
  await removeVm(name);
  if (existsSync(dir))
    throw new PlinthError("STATE_NOT_REMOVED", `The state of VM "${name}" was not all removed.`, {
      hint: `${dir} holds files plinth did not create; remove them by hand.`,
    });
}

/** Free what a sandbox that is not running held on its bridge (a no-op on user networking). */
export async function releaseSandboxNetwork(name: string): Promise<void> {
  const nic = existsSync(vmPaths(name).config) ? readVm(name).network : undefined;
  if (nic && !vmIsLive(name)) await releaseBridge(nic.bridge, nic.lease);
}

/** `plinth net down`: remove a bridge plinth made, refused while a VM on it runs. */
export function removeNetwork(bridge: string): Promise<NetDownReport> {
  return netDown(bridge, vmIsLive);
}

/** The serial console log of a sandbox (it may not exist yet right after start). */
export function sandboxLogPath(name: string): string {
  readVm(name);
  return vmPaths(name).consoleLog;
}

/** The Unix socket of a sandbox's serial console (what `plinth console` attaches to). */
export function sandboxConsoleSocket(name: string): string {
  readVm(name);
  return vmPaths(name).console;
}
