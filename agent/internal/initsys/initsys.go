// Package initsys is what the agent does as PID 1 of an `init: minimal` image, before
// it serves: the mounts, settings and services the shell init used to start (and
// systemd would), with the kernel command line's guest config applied before the
// first hello can be answered.
package initsys

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"plinth/agent/internal/proc"
)

// Paths of plinth's files in the guest (src/contract.ts).
const (
	GuestConfig = "/usr/lib/plinth/guest-config"
	// ModulesFile lists kernel modules to load at boot, one name per line (# comments).
	ModulesFile = "/usr/lib/plinth/modules"
)

// Log receives what init reports (the console).
var Log = func(string) {}

func logf(parts ...string) { Log(strings.Join(parts, "")) }

// Boot runs the init steps in order; none of them is fatal.
func Boot() {
	// The initramfs hands over PATH=/bin (busybox's): the image's programs live in
	// /usr/sbin and friends, as the shell init's `export PATH=…` said.
	os.Setenv("PATH", proc.DefaultPath)
	mountEssentials()
	raiseReadAhead()
	loadModules()
	mountFstab()
	applySysctl()
	firewall()
	machineID()
	setHostname()
	linkVirtioPorts()
	loopbackUp()
	guestConfig()
	firstHostKey()
	go sshd()
}

func mountedSet() map[string]bool {
	out := map[string]bool{}
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 {
			out[f[1]] = true
		}
	}
	return out
}

func mount(source, target, fstype string, flags uintptr, data string) {
	_ = os.MkdirAll(target, 0o755)
	if err := syscall.Mount(source, target, fstype, flags, data); err != nil {
		logf("mount ", fstype, " on ", target, ": ", err.Error())
	}
}

func mountEssentials() {
	if _, err := os.Stat("/proc/mounts"); err != nil {
		mount("proc", "/proc", "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, "")
	}
	m := mountedSet()
	if !m["/sys"] {
		mount("sys", "/sys", "sysfs", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, "")
	}
	if !m["/dev"] {
		mount("dev", "/dev", "devtmpfs", syscall.MS_NOSUID, "mode=0755")
	}
	if !m["/dev/pts"] {
		mount("devpts", "/dev/pts", "devpts", syscall.MS_NOSUID|syscall.MS_NOEXEC, "gid=5,mode=620,ptmxmode=666")
	}
	if !m["/dev/shm"] {
		mount("tmpfs", "/dev/shm", "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=1777")
	}
	if !m["/run"] {
		mount("tmpfs", "/run", "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=0755")
	}
	// What udev or systemd would add to /dev.
	for link, target := range map[string]string{
		"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0",
		"/dev/stdout": "/proc/self/fd/1", "/dev/stderr": "/proc/self/fd/2",
	} {
		if _, err := os.Lstat(link); err != nil {
			_ = os.Symlink(target, link)
		}
	}
}

// raiseReadAhead: bigger read-ahead, fewer (slow, emulated) disk requests at boot.
func raiseReadAhead() {
	files, _ := filepath.Glob("/sys/block/vd*/queue/read_ahead_kb")
	for _, f := range files {
		_ = os.WriteFile(f, []byte("4096"), 0)
	}
}

func loadModules() {
	b, err := os.ReadFile(ModulesFile)
	if err != nil {
		return
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			names = append(names, line)
		}
	}
	if len(names) == 0 {
		return
	}
	if _, err := proc.LookPath("modprobe", os.Environ()); err != nil {
		logf("cannot load modules ", strings.Join(names, " "), ": no modprobe")
		return
	}
	if !proc.Success(proc.Run(30*time.Second, nil, "modprobe", append([]string{"-a"}, names...)...)) {
		logf("modprobe -a ", strings.Join(names, " "), " failed")
	}
}

func mountFstab() {
	b, err := os.ReadFile("/etc/fstab")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			if !proc.Success(proc.Run(60*time.Second, nil, "mount", "-a")) {
				logf("mount -a failed")
			}
			return
		}
	}
}

// applySysctl writes the settings of /etc/sysctl.d/*.conf to /proc/sys.
func applySysctl() {
	files, _ := filepath.Glob("/etc/sysctl.d/*.conf")
	sort.Strings(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			key, value, ok := ParseSysctlLine(line)
			if !ok {
				continue
			}
			_ = os.WriteFile("/proc/sys/"+key, []byte(value+"\n"), 0)
		}
	}
}

// ParseSysctlLine reads "a.b.c = value" (or a/b/c), as a path under /proc/sys.
func ParseSysctlLine(line string) (string, string, bool) {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' || line[0] == ';' {
		return "", "", false
	}
	key, value, ok := strings.Cut(line, "=")
	if !ok {
		return "", "", false
	}
	key = strings.TrimPrefix(strings.TrimSpace(key), "-")
	if key == "" || strings.Contains(key, "..") {
		return "", "", false
	}
	if !strings.Contains(key, "/") {
		key = strings.ReplaceAll(key, ".", "/")
	}
	return key, strings.TrimSpace(value), true
}

func firewall() {
	if _, err := os.Stat("/etc/nftables.conf"); err == nil {
		if _, err := proc.LookPath("nft", os.Environ()); err == nil {
			if !proc.Success(proc.Run(60*time.Second, nil, "nft", "-f", "/etc/nftables.conf")) {
				logf("nft -f /etc/nftables.conf failed")
			}
		}
	}
	const ufw = "/lib/ufw/ufw-init"
	if syscall.Access(ufw, 1) == nil {
		null, _ := os.OpenFile("/dev/null", os.O_WRONLY, 0)
		if !proc.Success(proc.Run(60*time.Second, null, ufw, "start")) {
			logf(ufw, " start failed")
		}
		if null != nil {
			null.Close()
		}
	}
}

// CmdlineValue is the value of key= on a kernel command line (the last one wins, as
// with the kernel), unquoted; ok is false when it is not there.
func CmdlineValue(cmdline, key string) (string, bool) {
	value, found := "", false
	for _, arg := range splitCmdline(cmdline) {
		if k, v, ok := strings.Cut(arg, "="); ok && k == key {
			value, found = v, true
		}
	}
	return value, found
}

// splitCmdline splits on spaces outside double quotes and removes the quotes.
func splitCmdline(s string) []string {
	var out []string
	var cur strings.Builder
	quoted, any := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			quoted = !quoted
			any = true
		case (c == ' ' || c == '\n' || c == '\t') && !quoted:
			if any {
				out = append(out, cur.String())
				cur.Reset()
				any = false
			}
		default:
			cur.WriteByte(c)
			any = true
		}
	}
	if any {
		out = append(out, cur.String())
	}
	return out
}

func cmdline() string {
	b, _ := os.ReadFile("/proc/cmdline")
	return string(b)
}

// MachineIDFile is this machine's id: the image ships it empty (src/builder/customize/
// identity.ts) so that no two VMs of one image share it; systemd fills it in on its own.
const MachineIDFile = "/etc/machine-id"

func machineID() {
	if err := EnsureMachineID(MachineIDFile, "/proc/sys/kernel/random/uuid"); err != nil {
		logf("machine-id: ", err.Error())
	}
}

// EnsureMachineID writes a new id (32 hex digits, as systemd's) when the file is missing,
// empty or "uninitialized". The kernel's uuid file is read because it never blocks on
// an RNG that is still being seeded this early in the boot.
func EnsureMachineID(file, uuidSource string) error {
	if b, err := os.ReadFile(file); err == nil {
		if s := strings.TrimSpace(string(b)); s != "" && s != "uninitialized" {
			return nil
		}
	}
	u, err := os.ReadFile(uuidSource)
	if err != nil {
		return err
	}
	id := strings.ReplaceAll(strings.TrimSpace(string(u)), "-", "")
	tmp := file + ".plinth-tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o444); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}

func setHostname() {
	name, ok := CmdlineValue(cmdline(), "plinth.hostname")
	if !ok || name == "" {
		if b, err := os.ReadFile("/etc/hostname"); err == nil {
			name = strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
		}
	}
	if name != "" {
		if err := syscall.Sethostname([]byte(name)); err != nil {
			logf("sethostname: ", err.Error())
		}
	}
}

// linkVirtioPorts names the virtio-serial ports the way udev's rules would.
func linkVirtioPorts() {
	entries, err := os.ReadDir("/sys/class/virtio-ports")
	if err != nil {
		return
	}
	_ = os.MkdirAll("/dev/virtio-ports", 0o755)
	for _, e := range entries {
		b, err := os.ReadFile("/sys/class/virtio-ports/" + e.Name() + "/name")
		name := strings.TrimSpace(string(b))
		if err != nil || name == "" || strings.Contains(name, "/") {
			continue
		}
		link := "/dev/virtio-ports/" + name
		_ = os.Remove(link)
		_ = os.Symlink("../"+e.Name(), link)
	}
}

// loopbackUp sets IFF_UP on lo with SIOCSIFFLAGS (no ip(8) needed).
func loopbackUp() {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer syscall.Close(fd)
	var ifr [40]byte
	copy(ifr[:], "lo")
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCGIFFLAGS, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		logf("lo: SIOCGIFFLAGS: ", e.Error())
		return
	}
	flags := *(*uint16)(unsafe.Pointer(&ifr[16]))
	flags |= syscall.IFF_UP | syscall.IFF_RUNNING
	*(*uint16)(unsafe.Pointer(&ifr[16])) = flags
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCSIFFLAGS, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		logf("lo: SIOCSIFFLAGS: ", e.Error())
	}
}

// guestConfig applies the kernel command line's plinth.* keys (network, DNS, SSH key)
// and waits for it: a client that connects early must not miss the IP or the key.
func guestConfig() {
	if !strings.Contains(" "+cmdline(), " plinth.") {
		return // nothing to do: spare the fork
	}
	if syscall.Access(GuestConfig, 1) != nil {
		return
	}
	if !proc.Success(proc.Run(60*time.Second, nil, GuestConfig)) {
		logf(GuestConfig, " failed")
	}
}

// firstHostKey makes the ed25519 host key before the agent answers, if the machine has
// none yet (the image ships none: each VM has its own). It takes milliseconds, unlike
// RSA under emulation, and with it `sshd -T` works from the first exec; sshd() makes the
// other types in the background before it starts the daemon.
func firstHostKey() {
	const key = "/etc/ssh/ssh_host_ed25519_key"
	if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
		return
	}
	if _, err := os.Stat(key); err == nil {
		return
	}
	if !proc.Success(proc.Run(30*time.Second, nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key)) {
		logf("ssh-keygen -t ed25519 failed")
	}
}

// sshd starts the SSH daemon as its service would, with host keys made on first boot.
func sshd() {
	const bin = "/usr/sbin/sshd"
	if _, err := os.Stat(bin); err != nil {
		return
	}
	null, _ := os.OpenFile("/dev/null", os.O_WRONLY, 0)
	if _, err := proc.LookPath("ssh-keygen", os.Environ()); err == nil {
		_, _ = proc.Run(120*time.Second, null, "ssh-keygen", "-A")
	}
	if null != nil {
		null.Close()
	}
	_ = os.MkdirAll("/run/sshd", 0o755)
	// -D: in the foreground, as a child of the agent for its whole life. Without it sshd
	// would still not fork here: its parent is PID 1 and it leads its own session, which
	// it takes for "already daemonized" (sshd.c), so a waited-for Run would kill it.
	ws, err := proc.Run(0, nil, bin, "-D")
	if err != nil {
		logf(bin, ": ", err.Error())
	} else if ws.Signaled() {
		logf(bin, " killed by signal ", strconv.Itoa(int(ws.Signal())))
	} else {
		logf(bin, " exited with status ", strconv.Itoa(ws.ExitStatus()))
	}
}

// PowerOff syncs and powers off or restarts the machine (reboot(2)); as PID 1 nothing
// else would.
func PowerOff(action string) error {
	syscall.Sync()
	cmd := syscall.LINUX_REBOOT_CMD_POWER_OFF
	if action == "reboot" {
		cmd = syscall.LINUX_REBOOT_CMD_RESTART
	}
	return syscall.Reboot(cmd)
}
