import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { NotFoundError, UserError } from "../errors.js";
import { plinthHome } from "../paths.js";

/** What `plinth ps` shows and `plinth exec` needs to reach a VM. Saved as config.json. */
export interface VmConfig {
  name: string;
  image: string;
  imageName: string;
  imageVersion: string;
  accel: "kvm" | "tcg";
  memMiB: number;
  cpus: number;
  /** Outlives the plinth process that started it. */
  detached: boolean;
  created: string;
  pid?: number;
  /** Set when plinth stopped it on purpose; a dead VM still "running" is stale state. */
  status?: "running" | "exited";
}

export interface VmPaths {
  dir: string;
  config: string;
  qmp: string;
  agent: string;
  console: string;
  consoleLog: string;
  overlay: string;
}

export function vmsDir(): string {
  return path.join(plinthHome(), "vms");
}

export function vmPaths(name: string): VmPaths {
  const dir = path.join(vmsDir(), name);
  return {
    dir,
    config: path.join(dir, "config.json"),
    qmp: path.join(dir, "qmp.sock"),
    agent: path.join(dir, "agent.sock"),
    console: path.join(dir, "console.sock"),
    consoleLog: path.join(dir, "console.log"),
    overlay: path.join(dir, "overlay.qcow2"),
  };
}

export function isAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    // A zombie or a reused pid is not our QEMU.
    const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmd.includes("qemu-system");
  } catch {
    return false;
  }
}

export function readVm(name: string): VmConfig {
  const p = vmPaths(name);
  if (!existsSync(p.config))
    throw new NotFoundError(`No VM named "${name}".`, "See `plinth ps` for the running VMs.");
  return JSON.parse(readFileSync(p.config, "utf8")) as VmConfig;
}

export async function writeVm(cfg: VmConfig): Promise<void> {
  const p = vmPaths(cfg.name);
  const tmp = `${p.config}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(cfg, null, 2) + "\n");
  await rename(tmp, p.config);
}

/**
 * Every VM with state on disk: running ones, and (with `all`) ones plinth stopped whose
 * state was kept. A VM whose QEMU died without plinth stopping it (plinth was killed,
 * the host rebooted) is stale: its state is removed here.
 */
export async function listVms(all = false): Promise<(VmConfig & { running: boolean })[]> {
  if (!existsSync(vmsDir())) return [];
  const out: (VmConfig & { running: boolean })[] = [];
  for (const name of readdirSync(vmsDir()).sort()) {
    let cfg: VmConfig;
    try {
      cfg = readVm(name);
    } catch {
      await removeVm(name);
      continue;
    }
    if (isAlive(cfg.pid)) out.push({ ...cfg, running: true });
    else if (cfg.status === "exited") {
      if (all) out.push({ ...cfg, running: false });
    } else await removeVm(name);
  }
  return out;
}

/** Claim a VM name: its directory is created exclusively, so two starts cannot share one. */
export async function claimVm(name: string): Promise<VmPaths> {
  const p = vmPaths(name);
  await mkdir(vmsDir(), { recursive: true });
  if (existsSync(p.dir)) {
    const cfg = existsSync(p.config)
      ? (JSON.parse(readFileSync(p.config, "utf8")) as VmConfig)
      : undefined;
    if (cfg && isAlive(cfg.pid))
      throw new UserError("VM_EXISTS", `A VM named "${name}" is already running.`, {
        hint: "Pick another --name or stop it with `plinth stop`.",
      });
    await removeVm(name);
  }
  await mkdir(p.dir);
  return p;
}

export async function removeVm(name: string): Promise<void> {
  await rm(vmPaths(name).dir, { recursive: true, force: true });
}
