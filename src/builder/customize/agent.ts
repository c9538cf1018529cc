import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { BuildError } from "../../errors.js";
import type { Spec } from "../../spec/schema.js";
import { AGENT_PATH } from "../../contract.js";
import type { Rootfs } from "./rootfs.js";

/** The agent command line in the guest; quiet about PID 1 because tini reaps for it. */
export const AGENT_COMMAND = `/usr/bin/node ${AGENT_PATH} --pid1 quiet`;

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
ExecStart=${AGENT_COMMAND}
Restart=always
RestartSec=200ms
# One vCPU is shared with the rest of the boot: the agent goes first.
Nice=-15

[Install]
WantedBy=sysinit.target
`;

/** dist/plinth-agent.cjs of this plinth package (built by `npm run build`). */
export function agentBundlePath(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, "package.json"))) {
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return path.join(dir, "dist", "plinth-agent.cjs");
}

export function readAgentBundle(): Buffer {
  const p = agentBundlePath();
  if (!existsSync(p))
    throw new BuildError(
      "customize",
      `the guest agent bundle ${p} is missing; run \`npm run build\`.`,
    );
  return readFileSync(p);
}

export async function applyAgent(fs: Rootfs, spec: Spec): Promise<void> {
  if (!spec.agent) return;
  await fs.write(AGENT_PATH, readAgentBundle(), { mode: 0o755 });
  if (spec.init === "systemd") {
    await fs.write("/etc/systemd/system/plinth-agent.service", AGENT_UNIT, { mode: 0o644 });
    await fs.chroot(["systemctl", "enable", "plinth-agent.service"]);
  }
}
