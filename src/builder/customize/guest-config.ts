import type { Spec } from "../../spec/schema.js";
import type { Rootfs } from "./rootfs.js";
import { GUEST_CONFIG } from "../../contract.js";

/**
 * Identity and network from the kernel command line, in both init modes: the minimal init
 * runs it in the background, systemd images run it as an early oneshot unit. Lia's
 * lia.ip / lia.gateway / lia.ssh_key, generalised under plinth's names:
 *   plinth.hostname=NAME  plinth.ip=ADDR/PREFIX  plinth.gateway=ADDR  plinth.dns=A[,B…]
 *   plinth.ssh_key="TYPE KEY [COMMENT]"  plinth.ssh_user=NAME (default root)
 */
export const GUEST_CONFIG_SCRIPT = String.raw`#!/bin/sh
# plinth guest-config: hostname, network and an SSH key from the kernel command line.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
read -r cmdline < /proc/cmdline
case " $cmdline" in *" plinth."*) ;; *) exit 0;; esac # nothing to do: no forks
# The value of plinth.$1=, quoted ("a b") or not; the last one wins, as with the kernel.
arg() {
  printf ' %s\n' "$cmdline" | sed -n "s/^.* plinth\.$1=\(\"[^\"]*\"\|[^ ]*\).*$/\1/p" | sed 's/^"\(.*\)"$/\1/'
}
hostname=$(arg hostname)
[ -n "$hostname" ] && echo "$hostname" > /proc/sys/kernel/hostname
ip=$(arg ip)
if [ -n "$ip" ] && command -v ip >/dev/null; then
  ip link set lo up
  ip link set eth0 up && ip addr replace "$ip" dev eth0
  gateway=$(arg gateway)
  [ -n "$gateway" ] && ip route replace default via "$gateway"
fi
dns=$(arg dns)
if [ -n "$dns" ]; then
  rm -f /etc/resolv.conf
  for server in $(echo "$dns" | tr , ' '); do echo "nameserver $server"; done > /etc/resolv.conf
fi
key=$(arg ssh_key)
if [ -n "$key" ]; then
  user=$(arg ssh_user); [ -n "$user" ] || user=root
  home=$(getent passwd "$user" | cut -d: -f6)
  if [ -n "$home" ]; then
    mkdir -p "$home/.ssh"
    grep -qxF "$key" "$home/.ssh/authorized_keys" 2>/dev/null || echo "$key" >> "$home/.ssh/authorized_keys"
    chmod 700 "$home/.ssh"; chmod 600 "$home/.ssh/authorized_keys"
    chown -R "$user:" "$home/.ssh"
  fi
fi
exit 0
`;

const GUEST_CONFIG_UNIT = `[Unit]
Description=plinth: hostname, network and SSH key from the kernel command line
DefaultDependencies=no
After=local-fs.target systemd-tmpfiles-setup.service
Before=network-pre.target ssh.service sshd.service
Wants=network-pre.target

[Service]
Type=oneshot
ExecStart=${GUEST_CONFIG}

[Install]
WantedBy=sysinit.target
`;

export async function applyGuestConfig(fs: Rootfs, spec: Spec): Promise<void> {
  await fs.write(GUEST_CONFIG, GUEST_CONFIG_SCRIPT, { mode: 0o755 });
  if (spec.init !== "systemd") return;
  await fs.write("/etc/systemd/system/plinth-guest-config.service", GUEST_CONFIG_UNIT, {
    mode: 0o644,
  });
  await fs.chroot(["systemctl", "enable", "plinth-guest-config.service"]);
}
