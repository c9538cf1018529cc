import path from "node:path";
import { debugfsCat, debugfsEntries } from "./ext4-files.js";

/**
 * What makes one machine itself, and so must not be in an image that many VMs boot:
 * openssh-server's postinst makes host keys at build time (every VM would present the
 * same ones: a machine-in-the-middle waiting to happen), systemd and dbus keep a machine
 * id, systemd a random seed. The build removes them (builder/customize/identity.ts); each
 * VM makes its own on first boot; `plinth check` verifies the image holds none.
 */
export const IDENTITY = {
  /** `ssh_host_*_key[.pub]` in this dir. */
  sshDir: "/etc/ssh",
  /** Present but empty (systemd's "not yet initialized"), or absent. */
  machineId: "/etc/machine-id",
  /** Absent, or a symlink (Debian links the dbus one to /etc/machine-id). */
  files: [
    "/var/lib/dbus/machine-id",
    "/var/lib/systemd/random-seed",
    "/var/lib/systemd/credential.secret",
  ],
} as const;

export const isHostKey = (name: string) => /^ssh_host_.*_key(\.pub)?$/.test(name);

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;

/** The per-machine files an ext4 image holds, by path; none for a good image. */
export async function bakedIdentity(rootfs: string): Promise<string[]> {
  const found: string[] = [];
  for (const e of await debugfsEntries(rootfs, IDENTITY.sshDir))
    if (isHostKey(e.name)) found.push(`${IDENTITY.sshDir}/${e.name}`);
  const id = (await debugfsCat(rootfs, IDENTITY.machineId)).trim();
  if (id && id !== "uninitialized") found.push(IDENTITY.machineId);
  for (const file of IDENTITY.files) {
    const entry = (await debugfsEntries(rootfs, path.posix.dirname(file))).find(
      (e) => e.name === path.posix.basename(file),
    );
    if (entry && (entry.mode & S_IFMT) !== S_IFLNK) found.push(file);
  }
  return found;
}
