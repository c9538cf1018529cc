import type { Spec } from "../../spec/schema.js";
import type { Rootfs } from "./rootfs.js";

/** Printed on the serial console once the guest is up; the boot test waits for it. */
export const READY_MARKER = "plinth-ready";

const READY_UNIT = `[Unit]
Description=Tell the host that the guest is up
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo "${READY_MARKER} $(cut -d" " -f1 /proc/uptime)" > /dev/ttyS0'

[Install]
WantedBy=multi-user.target
`;

function unit(name: string): string {
  return name.includes(".") ? name : `${name}.service`;
}

/** Custom units, then enable / disable / mask, all offline through the image's systemctl. */
export async function applyServices(fs: Rootfs, spec: Spec): Promise<void> {
  if (spec.init !== "systemd") return;
  // Without the agent, the console marker is how the host knows the guest is up.
  const ready = spec.agent ? [] : [{ name: "plinth-ready.service", content: READY_UNIT }];
  const units = [...(spec.services.units ?? []), ...ready];
  for (const u of units) {
    await fs.write(`/etc/systemd/system/${u.name}`, u.content, { mode: 0o644 });
  }
  const groups: [string, string[]][] = [
    ["enable", [...(spec.services.enable ?? []), ...ready.map((u) => u.name)]],
    ["disable", spec.services.disable ?? []],
    ["mask", spec.services.mask ?? []],
  ];
  for (const [verb, names] of groups) {
    if (names.length) await fs.chroot(["systemctl", verb, ...names.map(unit)]);
  }
}
