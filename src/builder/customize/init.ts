import type { Spec } from "../../spec/schema.js";
import { GUEST_CONFIG, MINIMAL_INIT, READY_MARKER } from "../../contract.js";
import { AGENT_COMMAND } from "./agent.js";
import type { Rootfs } from "./rootfs.js";

/**
 * PID 1 of `init: minimal` images, run by the initramfs's switch_root. It does the
 * little systemd would have done, then hands PID 1 to tini, which reaps orphans (Node
 * only waits for its own children) and runs the agent, restarting it if it exits.
 * The kernel command line's plinth.* settings are applied by guest-config (see there).
 */
const SSHD = `
  # sshd, as its service would start it.
  ssh-keygen -A >/dev/null 2>&1; mkdir -p /run/sshd && /usr/sbin/sshd`;

export function minimalInitScript(command: string, sshd = false): string {
  // Every external command costs a fork+exec (~25 ms under TCG): builtins where possible,
  // and what the agent does not need in its first second runs in the background.
  return `#!/bin/sh
# plinth minimal init: mounts, hostname and network from the kernel command line, then the agent.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mounted=" "
[ -r /proc/mounts ] || mount -t proc proc /proc
while read -r _ mnt _; do mounted="$mounted$mnt "; done < /proc/mounts
case "$mounted" in *" /sys "*) ;; *) mount -t sysfs sys /sys;; esac
case "$mounted" in *" /dev "*) ;; *) mount -t devtmpfs dev /dev;; esac
mkdir -p /dev/pts /dev/shm /run
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=0755 tmpfs /run
# Node and its libraries are read from disk at first start: bigger read-ahead, fewer
# (slow, emulated) disk requests.
for ra in /sys/block/vd*/queue/read_ahead_kb; do [ -w "$ra" ] && echo 4096 > "$ra"; done
# What systemd would apply: fstab mounts, sysctl settings, the firewall (nftables or ufw).
while read -r src _; do case "$src" in ""|"#"*) ;; *) mount -a; break;; esac; done < /etc/fstab
for f in /etc/sysctl.d/*.conf; do
  [ -r "$f" ] || continue
  while IFS=" =" read -r key value; do
    case "$key" in ""|"#"*|";"*) continue;; esac
    echo "$value" > "/proc/sys/$(echo "$key" | tr . /)" 2>/dev/null
  done < "$f"
done
[ -r /etc/nftables.conf ] && command -v nft >/dev/null && nft -f /etc/nftables.conf
[ -x /lib/ufw/ufw-init ] && /lib/ufw/ufw-init start >/dev/null
hostname=""
read -r cmdline < /proc/cmdline
for arg in $cmdline; do case "$arg" in plinth.hostname=*) hostname="\${arg#*=}";; esac; done
[ -z "$hostname" ] && [ -r /etc/hostname ] && read -r hostname < /etc/hostname
[ -n "$hostname" ] && echo "$hostname" > /proc/sys/kernel/hostname
(
  # udev is not running: name the virtio-serial ports the way its rules would.
  mkdir -p /dev/virtio-ports
  for p in /sys/class/virtio-ports/*; do
    [ -r "$p/name" ] && read -r name < "$p/name" && ln -sf "../\${p##*/}" "/dev/virtio-ports/$name"
  done
  ip link set lo up
  ${GUEST_CONFIG}${sshd ? SSHD : ""}
) &
echo "plinth-init: starting agent"
exec /usr/bin/tini -- /bin/sh -c 'while :; do ${command}; sleep 0.2; done'
`;
}

export async function applyInit(fs: Rootfs, spec: Spec): Promise<void> {
  if (spec.init !== "minimal") return;
  // Without the agent there is nothing to serve: say "ready" on the console and idle.
  const command = spec.agent
    ? AGENT_COMMAND
    : `read up _ < /proc/uptime; echo "${READY_MARKER} $up" > /dev/console; exec sleep infinity`;
  const sshd = fs.exists("/usr/sbin/sshd");
  await fs.write(MINIMAL_INIT, minimalInitScript(command, sshd), { mode: 0o755 });
}
