import type { Spec } from "../../spec/schema.js";
import { parseDb, type Rootfs } from "./rootfs.js";

/** Groups first (users may join them), then users, their sudo rules and SSH keys. */
export async function applyUsers(fs: Rootfs, spec: Spec): Promise<void> {
  const existingGroups = parseDb(await fs.read("/etc/group"));
  for (const g of spec.groups) {
    if (existingGroups.has(g.name)) continue;
    const argv = ["groupadd"];
    if (g.gid !== undefined) argv.push("--gid", String(g.gid));
    if (g.system) argv.push("--system");
    await fs.chroot([...argv, g.name]);
  }
  const existingUsers = parseDb(await fs.read("/etc/passwd"));
  const groupsNow = parseDb(await fs.read("/etc/group"));
  for (const u of spec.users) {
    if (!existingUsers.has(u.name)) {
      const argv = ["useradd"];
      if (u.uid !== undefined) argv.push("--uid", String(u.uid));
      if (u.system) argv.push("--system");
      argv.push(u.system && !u.home ? "--no-create-home" : "--create-home");
      if (u.home) argv.push("--home-dir", u.home);
      // useradd would make a group of the user's name: join the one the spec (or a
      // package) already made instead of failing.
      if (groupsNow.has(u.name)) argv.push("--gid", u.name);
      argv.push("--shell", u.shell ?? (u.system ? "/usr/sbin/nologin" : "/bin/bash"));
      if (u.groups?.length) argv.push("--groups", u.groups.join(","));
      await fs.chroot([...argv, u.name]);
    }
    if (u.sudo) {
      const rule = `${u.name} ALL=(ALL:ALL) ${u.sudo === "nopasswd" ? "NOPASSWD: " : ""}ALL\n`;
      await fs.write(`/etc/sudoers.d/90-plinth-${u.name}`, rule, {
        mode: 0o440,
        owner: "root:root",
      });
    }
    if (u.ssh_authorized_keys?.length) {
      const home = u.home ?? `/home/${u.name}`;
      await fs.mkdir(`${home}/.ssh`, { mode: 0o700, owner: u.name });
      await fs.write(`${home}/.ssh/authorized_keys`, u.ssh_authorized_keys.join("\n") + "\n", {
        mode: 0o600,
        owner: u.name,
      });
    }
  }
}
