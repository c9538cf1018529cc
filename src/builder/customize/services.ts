import path from "node:path";
import type { EventSink } from "../../events.js";
import type { Spec } from "../../spec/schema.js";
import type { Rootfs } from "./rootfs.js";
import { renderUnit } from "./units.js";
import { READY_MARKER } from "../../contract.js";
import { unitFileName } from "../../spec/normalize.js";

const READY_UNIT = `[Unit]
Description=Tell the host that the guest is up
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo "${READY_MARKER} $(cut -d" " -f1 /proc/uptime)" > /dev/ttyS0'

[Install]
WantedBy=multi-user.target
`;

const UNIT_DIRS = ["/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"];

/** Custom units, then enable / disable / mask, all offline through the image's systemctl. */
export async function applyServices(fs: Rootfs, spec: Spec, emit: EventSink): Promise<void> {
  if (spec.init !== "systemd") return;
  // Without the agent, the console marker is how the host knows the guest is up.
  const ready = spec.agent ? [] : [{ name: "plinth-ready.service", content: READY_UNIT }];
  const units = [...(spec.services.units ?? []), ...ready];
  for (const u of units) {
    await fs.write(`/etc/systemd/system/${u.name}`, renderUnit(u), { mode: 0o644 });
  }
  // A spec written for another distribution may disable units this one does not ship
  // (snapd on Debian): nothing to disable, so say so instead of failing.
  // An instance (getty@tty1) has its template's file; a SysV service has an init script.
  const files = (n: string) => [
    n,
    n.replace(/@[^.]*\./, "@."),
    `../../init.d/${n.replace(/\.service$/, "")}`,
  ];
  const installed = (n: string) =>
    UNIT_DIRS.some((d) => files(n).some((f) => fs.exists(path.join(d, f))));
  const disable = (spec.services.disable ?? []).map(unitFileName).filter((n) => {
    if (installed(n)) return true;
    emit({
      type: "log",
      stage: "customize",
      level: "warn",
      message: `${n} is not in the image; nothing to disable`,
    });
    return false;
  });
  const groups: [string, string[]][] = [
    ["enable", [...(spec.services.enable ?? []), ...ready.map((u) => u.name)].map(unitFileName)],
    ["disable", disable],
    ["mask", (spec.services.mask ?? []).map(unitFileName)],
  ];
  for (const [verb, names] of groups) {
    if (names.length) await fs.chroot(["systemctl", verb, ...names]);
  }
}
