import { execa } from "execa";
import { probeKvm, type KvmProbe } from "../vm/accel.js";
import { firecrackerBinary } from "../vm/firecracker/driver.js";
import { TOOLS, toolPath, toolVersion } from "../host/tools.js";
import { UserError } from "../errors.js";
import { forwarding, hasTun } from "../net/host.js";

export interface ToolStatus {
  name: string;
  pkg: string;
  usedFor: string;
  found: boolean;
  optional: boolean;
  path?: string;
  version?: string;
}

export interface DoctorReport {
  tools: ToolStatus[];
  kvm: KvmProbe;
  /** `--vmm firecracker`: its binary (not a Debian package) and KVM, which it cannot do without. */
  firecracker: { path?: string; usable: boolean; reason: string };
  /** `--net bridge`: the TUN device, the tools, and IPv4 forwarding (plinth turns it on). */
  bridge: { tun: boolean; tools: boolean; forwarding: boolean; usable: boolean; reason: string };
  /** Debian packages that would provide the missing tools. */
  missingPackages: string[];
  isRoot: boolean;
}

export async function doctor(): Promise<DoctorReport> {
  const tools = await Promise.all(
    TOOLS.map(async (t): Promise<ToolStatus> => {
      const p = toolPath(t);
      return {
        name: t.name,
        pkg: t.pkg,
        usedFor: t.usedFor,
        found: !!p,
        optional: !!t.optional,
        path: p,
        version: p ? await toolVersion(t) : undefined,
      };
    }),
  );
  const missingPackages = [
    ...new Set(tools.filter((t) => !t.found && !t.optional).map((t) => t.pkg)),
  ];
  const kvm = tools.find((t) => t.name === "qemu-system-x86_64")?.found
    ? await probeKvm()
    : { status: "unknown" as const, reason: "qemu-system-x86_64 is missing" };
  const fc = firecrackerBinary();
  const firecracker = {
    path: fc,
    usable: !!fc && kvm.status === "usable",
    reason: !fc
      ? "no firecracker on PATH or at $PLINTH_FIRECRACKER (it is not a Debian package: install its release binary)"
      : kvm.status !== "usable"
        ? `KVM is ${kvm.status}: Firecracker has no emulator to fall back to`
        : "binary found and KVM usable",
  };
  return {
    tools,
    kvm,
    firecracker,
    bridge: bridgeStatus(tools),
    missingPackages,
    isRoot: process.getuid?.() === 0,
  };
}

function bridgeStatus(tools: ToolStatus[]): DoctorReport["bridge"] {
  const tun = hasTun();
  const missing = tools
    .filter((t) => ["ip", "nft", "conntrack"].includes(t.name) && !t.found)
    .map((t) => t.name);
  let on = false;
  try {
    on = forwarding() === "1";
  } catch {
    // no /proc/sys/net here: reported as off
  }
  const lacks = [
    ...(tun ? [] : ["no /dev/net/tun (modprobe tun)"]),
    ...missing.map((m) => `no ${m} (plinth doctor --fix)`),
  ];
  return {
    tun,
    tools: !missing.length,
    forwarding: on,
    usable: !lacks.length,
    reason: lacks.length
      ? lacks.join(", ")
      : `TUN, ip, nft and conntrack there; IPv4 forwarding ${on ? "on" : "off (plinth turns it on when it makes a bridge; `plinth net down` turns it off)"}`,
  };
}

/** The apt command that installs `pkgs`. No recommends: a recommended systemd-resolved breaks DNS on such hosts. */
export function aptInstallArgv(pkgs: string[]): string[] {
  return ["apt-get", "install", "-y", "--no-install-recommends", ...pkgs];
}

/** Install missing packages with apt. Only as root; otherwise say what to run. */
export async function fixMissing(
  report: DoctorReport,
  onOutput?: (line: string) => void,
): Promise<void> {
  if (!report.missingPackages.length) return;
  const argv = aptInstallArgv(report.missingPackages);
  if (!report.isRoot) {
    throw new UserError("NOT_ROOT", "Installing host packages needs root.", {
      hint: `Run: sudo ${argv.join(" ")}`,
    });
  }
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  for (const cmd of [["apt-get", "update"], argv]) {
    const child = execa(cmd[0]!, cmd.slice(1), { env, all: true, reject: false });
    child.all?.on("data", (b: Buffer) =>
      b
        .toString()
        .split("\n")
        .filter(Boolean)
        .forEach((l) => onOutput?.(l)),
    );
    const r = await child;
    if (r.exitCode !== 0) {
      const tail = String(r.all ?? "")
        .trimEnd()
        .split("\n")
        .slice(-8)
        .join("\n");
      throw new UserError("APT_FAILED", `\`${cmd.join(" ")}\` exited with ${r.exitCode}.`, {
        hint: `Fix the host's apt sources, then retry. apt said:\n${tail}`,
      });
    }
  }
}
