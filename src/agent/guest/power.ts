import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * Power the guest off (or reboot it), without blocking the event loop, so the reply to
 * the host still gets out. Under an init that can be asked (systemd), ask it without
 * waiting for the job (`--no-block`: the job stops this agent too). As PID 1, or under
 * plinth's minimal init (tini, no init to ask), sync and ask the kernel through
 * /proc/sysrq-trigger ("o" off, "b" reboot; this works whatever kernel.sysrq says).
 */
export async function powerOff(action: "poweroff" | "reboot"): Promise<void> {
  if (process.pid !== 1) {
    for (const argv of [["systemctl", "--no-block", action], [action]]) {
      try {
        await run(argv[0]!, argv.slice(1), { timeout: 30_000 });
        return;
      } catch {
        // not available here: try the next way
      }
    }
  }
  await run("sync", [], { timeout: 30_000 }).catch(() => undefined);
  await writeFile("/proc/sysrq-trigger", action === "reboot" ? "b" : "o");
}
