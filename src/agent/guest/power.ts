import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";

/**
 * Power the guest off (or reboot it). As PID 1 there is no init to ask, so it syncs and
 * asks the kernel directly through /proc/sysrq-trigger ("o" off, "b" reboot; this works
 * whatever kernel.sysrq says). Otherwise it asks systemd, then the classic commands.
 */
export function powerOff(action: "poweroff" | "reboot"): void {
  if (process.pid === 1) {
    spawnSync("sync", { stdio: "ignore", timeout: 30_000 });
    writeFileSync("/proc/sysrq-trigger", action === "reboot" ? "b" : "o");
    return;
  }
  for (const argv of [["systemctl", action], [action]]) {
    const r = spawnSync(argv[0]!, argv.slice(1), { stdio: "ignore", timeout: 30_000 });
    if (r.status === 0) return;
  }
  // No init to ask (plinth's minimal init runs the agent under tini): ask the kernel.
  spawnSync("sync", { stdio: "ignore", timeout: 30_000 });
  writeFileSync("/proc/sysrq-trigger", action === "reboot" ? "b" : "o");
}
