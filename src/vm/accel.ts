import { constants, existsSync, readdirSync } from "node:fs";
import { access, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { UserError } from "../errors.js";
import { cacheDir, imagesDir } from "../paths.js";

export type Accel = "kvm" | "tcg";
export type AccelRequest = Accel | "auto";

export interface KvmProbe {
  status: "usable" | "unusable" | "absent" | "unknown";
  reason: string;
}

const PROBE_TIMEOUT_MS = 8000;

/**
 * Does KVM really work? `/dev/kvm` existing is not enough: on some hosts a guest under
 * KVM spins forever in the host kernel. A trivial real-mode probe passes there, so the
 * probe boots a real kernel with no root filesystem and waits for it to panic and exit
 * (about a second under TCG); a hang past the timeout means KVM is unusable.
 */
export async function probeKvm(kernel = findProbeKernel()): Promise<KvmProbe> {
  if (!existsSync("/dev/kvm")) return { status: "absent", reason: "/dev/kvm does not exist" };
  try {
    await access("/dev/kvm", constants.R_OK | constants.W_OK);
  } catch {
    return { status: "unusable", reason: "/dev/kvm is not readable and writable by this user" };
  }
  if (!kernel)
    return { status: "unknown", reason: "no kernel to probe with yet (build an image first)" };
  const cached = await readCachedProbe();
  if (cached) return cached;
  const argv = [
    "-accel",
    "kvm",
    "-cpu",
    "host",
    "-M",
    "microvm",
    "-m",
    "128",
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-serial",
    "stdio",
    "-no-reboot",
    "-kernel",
    kernel,
    "-append",
    "console=ttyS0 panic=-1 loglevel=4",
  ];
  const r = await execa("qemu-system-x86_64", argv, {
    timeout: PROBE_TIMEOUT_MS,
    reject: false,
    all: true,
  });
  const booted = /Kernel panic|Linux version|VFS:/.test(String(r.all ?? ""));
  const probe: KvmProbe = r.timedOut
    ? { status: "unusable", reason: `a KVM guest hung for ${PROBE_TIMEOUT_MS / 1000} s` }
    : booted
      ? { status: "usable", reason: "a KVM guest booted its kernel" }
      : {
          status: "unusable",
          reason: `qemu -accel kvm failed: ${String(r.all ?? "").split("\n")[0]}`,
        };
  await writeCachedProbe(probe);
  return probe;
}

/** Resolve `auto` to the accelerator to use; refuse `kvm` when the probe says it does not work. */
export async function chooseAccel(request: AccelRequest, kernel?: string): Promise<Accel> {
  if (request === "tcg") return "tcg";
  const probe = await probeKvm(kernel);
  if (probe.status === "usable") return "kvm";
  if (request === "kvm") {
    throw new UserError("KVM_UNUSABLE", `KVM is not usable here: ${probe.reason}.`, {
      hint: "Use --accel tcg (or auto) to run under software emulation.",
    });
  }
  return "tcg";
}

/** Any kernel plinth has built, newest first; else the host's own. */
export function findProbeKernel(): string | undefined {
  const candidates: string[] = [];
  const root = imagesDir();
  if (existsSync(root)) {
    for (const name of readdirSync(root)) {
      for (const version of readdirSync(path.join(root, name))) {
        const k = path.join(root, name, version, "vmlinuz");
        if (existsSync(k)) candidates.push(k);
      }
    }
  }
  if (existsSync("/boot")) {
    for (const f of readdirSync("/boot"))
      if (f.startsWith("vmlinuz")) candidates.push(path.join("/boot", f));
  }
  return candidates[0];
}

/** A property of the host, not of a store: cached next to the stage caches. */
function probeFile(): string {
  return path.join(cacheDir(), "kvm-probe.json");
}

function probeKey(): string {
  return `${os.release()}|${os.cpus()[0]?.model ?? ""}`;
}

async function readCachedProbe(): Promise<KvmProbe | undefined> {
  try {
    const data = JSON.parse(await readFile(probeFile(), "utf8")) as {
      key: string;
      probe: KvmProbe;
    };
    return data.key === probeKey() ? data.probe : undefined;
  } catch {
    return undefined;
  }
}

async function writeCachedProbe(probe: KvmProbe): Promise<void> {
  await mkdir(cacheDir(), { recursive: true });
  const tmp = `${probeFile()}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify({ key: probeKey(), probe }, null, 2));
  await rename(tmp, probeFile());
}
