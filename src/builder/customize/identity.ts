import { readdir } from "node:fs/promises";
import { IDENTITY, isHostKey } from "../../image/identity.js";
import type { Spec } from "../../spec/schema.js";
import type { Rootfs } from "./rootfs.js";

/** Debian's ssh.service runs `sshd -t` first, which fails without keys: make them before. */
const HOST_KEYS_UNIT = `[Unit]
Description=plinth: this machine's own SSH host keys, made on its first boot
After=local-fs.target
Before=ssh.service sshd.service ssh.socket

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target ssh.service
`;

/**
 * Take the per-machine files out of the image (see image/identity.ts); each VM makes its
 * own on first boot: the minimal init (agent/internal/initsys), or systemd and this unit.
 */
export async function applyIdentity(fs: Rootfs, spec: Spec): Promise<void> {
  const sshDir = fs.path(IDENTITY.sshDir);
  for (const name of await readdir(sshDir).catch(() => [])) {
    if (isHostKey(name)) await fs.remove(`${IDENTITY.sshDir}/${name}`);
  }
  if (fs.exists(IDENTITY.machineId) || spec.init === "systemd")
    await fs.write(IDENTITY.machineId, "", { mode: 0o444 });
  for (const p of IDENTITY.files) if (!(await fs.isSymlink(p))) await fs.remove(p);
  if (spec.init === "systemd" && fs.exists("/usr/sbin/sshd") && fs.exists("/usr/bin/ssh-keygen")) {
    await fs.write("/etc/systemd/system/plinth-ssh-host-keys.service", HOST_KEYS_UNIT, {
      mode: 0o644,
    });
    await fs.chroot(["systemctl", "enable", "plinth-ssh-host-keys.service"]);
  }
}
