import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, readdir, rename, rm, rmdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { NotFoundError, UserError } from "../errors.js";
import { checkName, isValidName } from "../names.js";
import { plinthHome } from "../paths.js";
import { inside, lstatOrUndefined } from "../util/safe-path.js";
import { readStateFile } from "../util/state-file.js";

/** What `plinth ps` shows and `plinth exec` needs to reach a VM. Saved as config.json. */
const VmConfigSchema = z.object({
  name: z.string(),
  image: z.string(),
  imageName: z.string(),
  imageVersion: z.string(),
  accel: z.enum(["kvm", "tcg"]),
  memMiB: z.number().int().positive(),
  cpus: z.number().int().positive(),
  /** Outlives the plinth process that started it. */
  detached: z.boolean(),
  created: z.string(),
  pid: z.number().int().positive().optional(),
  /** Set when plinth stopped it on purpose; a dead VM still "running" is stale state. */
  status: z.enum(["running", "exited"]).optional(),
  /** The VMM (absent: qemu, as before there was a choice). */
  vmm: z.enum(["qemu", "firecracker"]).optional(),
  /** How QEMU was started beyond the image: a snapshot records it, a restore repeats it. */
  shape: z
    .object({
      boot: z.enum(["kernel", "disk"]),
      cmdline: z.string(),
      tscKhz: z.number().int().positive().optional(),
      net: z.boolean(),
      extraPorts: z.array(z.string()),
    })
    .optional(),
  /** What the guest's agent said at hello (a snapshot records it without a new session). */
  agent: z
    .object({
      version: z.string().optional(),
      protocol: z.object({ major: z.number().int(), minor: z.number().int() }),
    })
    .optional(),
  /** The plinth process that paused it to save a snapshot; if that process died, resume. */
  pausedBy: z.number().int().positive().optional(),
  /** Restored from this snapshot dir: its overlay sits on the snapshot's disk. */
  restoredFrom: z.string().optional(),
  /** On a plinth bridge (`--net bridge`): its lease, released when the VM goes. */
  network: z
    .object({
      bridge: z.string(),
      ip: z.string(),
      mac: z.string(),
      tap: z.string(),
      /** The lease's id (net/bridge.ts): what the VM's stop frees. */
      lease: z.string(),
      /** Egress is filtered (`--allow-egress` / `--deny-egress`). */
      restricted: z.boolean(),
    })
    .optional(),
});
export type VmShape = NonNullable<VmConfig["shape"]>;
export type VmConfig = z.infer<typeof VmConfigSchema>;

export interface VmPaths {
  dir: string;
  config: string;
  qmp: string;
  agent: string;
  console: string;
  consoleLog: string;
  overlay: string;
  /** Firecracker: its API socket, the host end of its vsock, the VM's own copy of the rootfs. */
  api: string;
  vsock: string;
  rootfs: string;
}

export function vmsDir(): string {
  return path.join(plinthHome(), "vms");
}

/** The state paths of VM `name`; the name is checked first, so they stay under vmsDir(). */
export function vmPaths(name: string): VmPaths {
  const dir = inside(vmsDir(), checkName("VM", name));
  return {
    dir,
    config: path.join(dir, "config.json"),
    qmp: path.join(dir, "qmp.sock"),
    agent: path.join(dir, "agent.sock"),
    console: path.join(dir, "console.sock"),
    consoleLog: path.join(dir, "console.log"),
    overlay: path.join(dir, "overlay.qcow2"),
    api: path.join(dir, "firecracker.sock"),
    vsock: path.join(dir, "vsock.sock"),
    rootfs: path.join(dir, "rootfs.ext4"),
  };
}

/** `pid` runs and its command line holds `what` (a zombie or a reused pid is not our VMM). */
const VMM_PROCESS = /qemu-system|firecracker/;

export function isAlive(pid: number | undefined, what: string | RegExp = VMM_PROCESS): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmd.length > 0 && (typeof what === "string" ? cmd.includes(what) : what.test(cmd));
  } catch {
    return false;
  }
}

export function readVm(name: string): VmConfig {
  const hint = "See `plinth ps` for the running VMs.";
  const { config } = vmPaths(name);
  if (!existsSync(config)) throw new NotFoundError(`No VM named "${name}".`, hint);
  const cfg = readStateFile(config, VmConfigSchema, `state of VM "${name}"`, { hint });
  // Paths come from the dir's name, stop and remove from the file's: they must agree.
  if (cfg.name !== name)
    throw new UserError("STATE_CORRUPT", `${config} names another VM ("${cfg.name}").`, {
      hint: "Remove that directory by hand if it is not a VM's.",
    });
  return cfg;
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
    if (!isValidName(name)) continue; // not a VM plinth made: left alone
    let cfg: VmConfig;
    try {
      cfg = readVm(name);
    } catch {
      // No state yet is a start in progress, unless its claimer died; corrupt state is stale.
      if (existsSync(vmPaths(name).config) || !claimedByLiveProcess(name)) await removeVm(name);
      continue;
    }
    if (isAlive(cfg.pid)) out.push({ ...cfg, running: true });
    else if (cfg.status === "exited") {
      if (all) out.push({ ...cfg, running: false });
    } else if (!vmIsLive(name)) await removeVm(name); // not between two boot attempts
  }
  return out;
}

/** Claim a VM name: its directory is created exclusively, so two starts cannot share one. */
export async function claimVm(name: string): Promise<VmPaths> {
  const p = vmPaths(name);
  await mkdir(vmsDir(), { recursive: true });
  if (existsSync(p.dir)) {
    const cfg = existsSync(p.config) ? tryReadVm(name) : undefined;
    if ((cfg && isAlive(cfg.pid)) || (!cfg && claimedByLiveProcess(name)))
      throw new UserError("VM_EXISTS", `A VM named "${name}" is already running.`, {
        hint: "Pick another --name or stop it with `plinth stop`.",
      });
    await removeVm(name);
    if (existsSync(p.dir))
      throw new UserError("VM_DIR_FOREIGN", `${p.dir} holds files plinth did not create.`, {
        hint: "Move them away or pick another --name.",
      });
  }
  await mkdir(p.dir);
  // Until config.json exists (QEMU started), this says the dir is taken, and by whom.
  await writeFile(path.join(p.dir, CLAIM), `${process.pid}\n`);
  return p;
}

const CLAIM = "claim.pid";

/**
 * Something still holds VM `name`: its VMM runs, or (no VMM started yet, or between boot
 * attempts) the plinth that claimed it is alive. What a dead VM held can be freed.
 */
export function vmIsLive(name: string): boolean {
  const cfg = existsSync(vmPaths(name).config) ? tryReadVm(name) : undefined;
  return cfg?.pid ? isAlive(cfg.pid) : claimedByLiveProcess(name);
}

/** A VM dir without state yet whose claiming plinth process is still alive: starting. */
function claimedByLiveProcess(name: string): boolean {
  try {
    const pid = Number(readFileSync(path.join(vmPaths(name).dir, CLAIM), "utf8"));
    if (pid > 0) process.kill(pid, 0); // throws when that process is gone
    return pid > 0;
  } catch {
    return false;
  }
}

function tryReadVm(name: string): VmConfig | undefined {
  try {
    return readVm(name);
  } catch {
    return undefined;
  }
}

/** Files plinth puts in a VM dir; removing a VM removes these and nothing else. */
const VM_FILES =
  /^(config\.json|qmp\.sock|agent\.sock|console\.sock|console\.log|overlay\.qcow2|efivars\.fd|qemu\.log|claim\.pid|port-[A-Za-z0-9._-]+\.sock|config\.json\.\d+\.tmp|firecracker\.(sock|log|json)|vsock\.sock(_\d+)?|rootfs\.ext4)$/;

/**
 * Remove a VM's state: the files plinth made in its dir, then the dir if that left it
 * empty. Anything else found there was not plinth's, so it and the dir are kept.
 */
export async function removeVm(name: string): Promise<void> {
  const { dir } = vmPaths(name);
  // A link in vms/ is not a dir plinth made: its target's files are not plinth's to remove.
  if (lstatOrUndefined(dir)?.isSymbolicLink())
    throw new UserError("VM_DIR_FOREIGN", `${dir} is a symbolic link, not plinth's VM state.`, {
      hint: "Remove the link by hand.",
    });
  const entries = await readdir(dir).catch(() => undefined);
  if (!entries) return;
  for (const e of entries) if (VM_FILES.test(e)) await rm(inside(dir, e), { force: true });
  await rmdir(dir).catch(() => undefined);
}
