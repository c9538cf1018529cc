import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { packageRoot } from "../../paths.js";
import { UserError } from "../../errors.js";
import type { Spec } from "../../spec/schema.js";
import { AGENT_PATH } from "../../contract.js";
import type { Rootfs } from "./rootfs.js";

/** Early, restart-always unit: the agent comes up before anything slow. */
const AGENT_UNIT = `[Unit]
Description=plinth guest agent
DefaultDependencies=no
# After the boot-time /tmp cleanup (and local mounts): files a client writes must stay.
# After guest-config: a client sees the hostname and keys the command line set.
After=local-fs.target systemd-tmpfiles-setup.service plinth-guest-config.service
Before=sysinit.target shutdown.target
Conflicts=shutdown.target

[Service]
ExecStart=${AGENT_PATH}
Restart=always
RestartSec=200ms
# One vCPU is shared with the rest of the boot: the agent goes first.
Nice=-15

[Install]
WantedBy=sysinit.target
`;

/**
 * The agent binary for `arch` in this plinth package: dist/guest/plinth-agent-linux-<arch>,
 * built by `npm run build` (scripts/build-agent.mjs) and shipped in the npm package.
 */
export function agentBinaryPath(arch: string): string {
  return path.join(packageRoot(), "dist", "guest", `plinth-agent-linux-${arch}`);
}

export function readAgentBinary(arch: string): Buffer {
  const p = agentBinaryPath(arch);
  if (!existsSync(p))
    throw new UserError("AGENT_MISSING", `The guest agent ${p} has not been built.`, {
      hint: "Run `npm run build` in this plinth checkout (it needs Go: `plinth doctor --fix` installs it).",
    });
  return readFileSync(p);
}

/**
 * One file, depending on nothing in the image. Under `init: minimal` it is PID 1 (the
 * kernel command line's init=); under systemd it runs from an early unit.
 */
export async function applyAgent(fs: Rootfs, spec: Spec): Promise<void> {
  if (!spec.agent) return;
  await fs.write(AGENT_PATH, readAgentBinary(spec.arch), { mode: 0o755 });
  if (spec.init === "systemd") {
    await fs.write("/etc/systemd/system/plinth-agent.service", AGENT_UNIT, { mode: 0o644 });
    await fs.chroot(["systemctl", "enable", "plinth-agent.service"]);
  }
}
