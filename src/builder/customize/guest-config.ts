import type { Spec } from "../../spec/schema.js";
import type { Rootfs } from "./rootfs.js";
import { GUEST_CONFIG } from "../../contract.js";

/**
 * Identity and network from the kernel command line, in both init modes: the agent runs it
 * before it answers as PID 1 of a minimal image, systemd images run it as an early oneshot
 * unit, and images without the agent too. Lia's
 * lia.ip / lia.gateway / lia.ssh_key, generalised under plinth's names:
 *   plinth.hostname=NAME  plinth.ip=ADDR/PREFIX  plinth.gateway=ADDR  plinth.dns=A[,B…]
 *   plinth.ssh_key="TYPE KEY [COMMENT]"  plinth.ssh_user=NAME (default root)
 * A plain template literal: the shell's own \${…} are escaped.
 */
export const GUEST_CONFIG_SCRIPT = `#!/bin/sh
# plinth guest-config: hostname, network and an SSH key from the kernel command line.
# It runs before the agent answers, on what may be one emulated vCPU where every exec
# costs tens of milliseconds: the parsing is the shell's own, and one ip does the rest.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
read -r cmdline < /proc/cmdline
case " $cmdline" in *" plinth."*) ;; *) exit 0;; esac # nothing to do: no forks
# plinth.KEY=VALUE words, VALUE quoted ("a b") or not; the last one wins, as with the kernel.
hostname= ip= gateway= dns= ssh_key= ssh_user= open= key= value=
set_arg() {
  case "$1" in
    hostname) hostname=$2 ;; ip) ip=$2 ;; gateway) gateway=$2 ;; dns) dns=$2 ;;
    ssh_key) ssh_key=$2 ;; ssh_user) ssh_user=$2 ;;
  esac
}
set -f
for word in $cmdline; do
  if [ -n "$open" ]; then
    case "$word" in
      *'"') open=; word=\${word%'"'}; set_arg "$key" "$value $word" ;;
      *) value="$value $word" ;;
    esac
    continue
  fi
  case "$word" in
    plinth.*=*) word=\${word#plinth.}; key=\${word%%=*}; value=\${word#*=} ;;
    *) continue ;;
  esac
  case "$value" in
    '"'*'"') value=\${value#'"'}; set_arg "$key" "\${value%'"'}" ;;
    '"'*) value=\${value#'"'}; open=1 ;;
    *) set_arg "$key" "$value" ;;
  esac
done
set +f
[ -n "$hostname" ] && echo "$hostname" > /proc/sys/kernel/hostname
if [ -n "$ip" ] && command -v ip >/dev/null; then
  # One exec for all of it; busybox's ip has no -batch, so it falls back to one per step.
  ip -force -batch - 2>/dev/null <<IP || {
link set lo up
link set eth0 up
addr replace $ip dev eth0
\${gateway:+route replace default via $gateway}
IP
    ip link set lo up
    ip link set eth0 up && ip addr replace "$ip" dev eth0
    [ -n "$gateway" ] && ip route replace default via "$gateway"
  }
fi
if [ -n "$dns" ]; then
  [ -L /etc/resolv.conf ] && rm -f /etc/resolv.conf # e.g. systemd-resolved's stub
  IFS=, ; for server in $dns; do echo "nameserver $server"; done > /etc/resolv.conf; unset IFS
fi
if [ -n "$ssh_key" ]; then
  user=\${ssh_user:-root} home=
  while IFS=: read -r name _ _ _ _ dir _; do
    [ "$name" = "$user" ] && home=$dir && break
  done < /etc/passwd
  if [ -n "$home" ]; then
    keys=$home/.ssh/authorized_keys
    mkdir -p "$home/.ssh"
    known=
    if [ -f "$keys" ]; then
      while IFS= read -r line; do [ "$line" = "$ssh_key" ] && known=1 && break; done < "$keys"
    fi
    [ -n "$known" ] || echo "$ssh_key" >> "$keys"
    chmod 700 "$home/.ssh"; chmod 600 "$keys"
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
