// Package transport opens the byte streams the agent serves: a virtio-serial port
// (reopened after each disconnect), a Unix socket or vsock listener, or stdio. Sockets
// are made with raw system calls (no net package) and wrapped in pollable os.Files, so
// closing one interrupts a blocked read or write.
package transport

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// DefaultPort is the agent's virtio-serial port (QEMU name org.plinth.agent.0).
const DefaultPort = "/dev/virtio-ports/org.plinth.agent.0"

// Listener accepts stream connections.
type Listener struct {
	f    *os.File
	name string
}

func (l *Listener) Name() string { return l.name }

// Close stops accepting; a blocked Accept returns an error.
func (l *Listener) Close() error { return l.f.Close() }

// Accept waits for the next connection.
func (l *Listener) Accept() (*os.File, error) {
	rc, err := l.f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var nfd uintptr
	var errno syscall.Errno
	err = rc.Read(func(fd uintptr) bool {
		nfd, _, errno = syscall.Syscall6(syscall.SYS_ACCEPT4, fd, 0, 0,
			syscall.SOCK_CLOEXEC|syscall.SOCK_NONBLOCK, 0, 0)
		return errno != syscall.EAGAIN
	})
	if err != nil {
		return nil, err
	}
	if errno != 0 {
		return nil, os.NewSyscallError("accept4", errno)
	}
	return os.NewFile(nfd, l.name+" connection"), nil
}

func newListener(family int, name string, bind func(fd int) error) (*Listener, error) {
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC|syscall.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := bind(fd); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	if err := syscall.Listen(fd, 64); err != nil {
		syscall.Close(fd)
		return nil, os.NewSyscallError("listen", err)
	}
	return &Listener{f: os.NewFile(uintptr(fd), name), name: name}, nil
}

// ListenUnix listens on a Unix socket; a stale socket file from an earlier run is
// replaced (anything else at the path is an error).
func ListenUnix(path string) (*Listener, error) {
	if st, err := os.Lstat(path); err == nil && st.Mode()&os.ModeSocket != 0 {
		_ = os.Remove(path)
	}
	return newListener(syscall.AF_UNIX, "unix "+path, func(fd int) error {
		if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
			return &os.PathError{Op: "bind", Path: path, Err: err}
		}
		return nil
	})
}

// AF_VSOCK and VMADDR_CID_ANY (linux/vm_sockets.h); the syscall package has neither.
const (
	afVsock      = 40
	vmaddrCIDAny = 0xFFFFFFFF
)

// sockaddrVM is struct sockaddr_vm.
type sockaddrVM struct {
	Family    uint16
	Reserved1 uint16
	Port      uint32
	CID       uint32
	Flags     uint8
	Zero      [3]uint8
}

// ListenVsock listens on an AF_VSOCK port for connections from the host (any CID).
func ListenVsock(port uint32) (*Listener, error) {
	name := "vsock " + strconv.Itoa(int(port))
	return newListener(afVsock, name, func(fd int) error {
		sa := sockaddrVM{Family: afVsock, Port: port, CID: vmaddrCIDAny}
		_, _, e := syscall.Syscall(syscall.SYS_BIND, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
		if e != 0 {
			return os.NewSyscallError("bind", e)
		}
		return nil
	})
}

// ResolvePortPath returns port when it exists, else the /dev/vportNpM whose sysfs name
// is port's base name (without udev there is no /dev/virtio-ports symlink), else port.
func ResolvePortPath(port, sysfsRoot, devRoot string) string {
	if _, err := os.Stat(port); err == nil {
		return port
	}
	name := filepath.Base(port)
	classDir := filepath.Join(sysfsRoot, "class", "virtio-ports")
	entries, err := os.ReadDir(classDir)
	if err != nil {
		return port
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(classDir, e.Name(), "name"))
		if err == nil && strings.TrimSpace(string(b)) == name {
			return filepath.Join(devRoot, e.Name())
		}
	}
	return port
}

// VirtioOptions configure ServeVirtio.
type VirtioOptions struct {
	Path      string
	SysfsRoot string
	DevRoot   string
	// Reopen delay after a short-lived connection, doubling up to MaxRetry.
	MinRetry, MaxRetry time.Duration
	Log                func(string)
	// Stop ends the loop (checked between connections).
	Stop <-chan struct{}
}

// ServeVirtio opens the port read-write and hands it to serve, again and again: a read
// returns EOF while no host is connected, so each EOF ends a connection and the port is
// reopened, with a growing delay while connections keep ending at once. EBUSY on reopen
// (an old write still blocked) is retried the same way.
func ServeVirtio(o VirtioOptions, serve func(io.ReadWriteCloser)) {
	if o.SysfsRoot == "" {
		o.SysfsRoot = "/sys"
	}
	if o.DevRoot == "" {
		o.DevRoot = "/dev"
	}
	if o.MinRetry == 0 {
		o.MinRetry = 10 * time.Millisecond
	}
	if o.MaxRetry == 0 {
		o.MaxRetry = 100 * time.Millisecond
	}
	if o.Log == nil {
		o.Log = func(string) {}
	}
	delay := o.MinRetry
	lastError := ""
	wait := func() bool {
		select {
		case <-o.Stop:
			return false
		case <-time.After(delay):
		}
		delay *= 2
		if delay > o.MaxRetry {
			delay = o.MaxRetry
		}
		return true
	}
	for {
		select {
		case <-o.Stop:
			return
		default:
		}
		file := ResolvePortPath(o.Path, o.SysfsRoot, o.DevRoot)
		f, err := os.OpenFile(file, os.O_RDWR, 0)
		if err != nil {
			if msg := err.Error(); msg != lastError {
				o.Log("cannot open " + o.Path + ": " + msg + "; retrying")
				lastError = msg
			}
			if !wait() {
				return
			}
			continue
		}
		lastError = ""
		opened := time.Now()
		serve(f)
		if time.Since(opened) < time.Second {
			if !wait() {
				return
			}
		} else {
			delay = o.MinRetry
		}
	}
}

// Stdio is one connection on stdin/stdout.
type Stdio struct{}

func (Stdio) Read(p []byte) (int, error)  { return os.Stdin.Read(p) }
func (Stdio) Write(p []byte) (int, error) { return os.Stdout.Write(p) }
func (Stdio) Close() error {
	os.Stdin.Close()
	return os.Stdout.Close()
}
