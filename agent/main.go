// Command plinth-agent is the guest agent of plinth images: one static binary that
// serves the agent protocol (docs/agent-protocol.md) over virtio-serial, vsock, a Unix
// socket or stdio, and as PID 1 of `init: minimal` images is the init as well.
package main

import (
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"plinth/agent/internal/agent"
	"plinth/agent/internal/initsys"
	"plinth/agent/internal/proc"
	"plinth/agent/internal/transport"
)

// version is set at build time: -ldflags "-X main.version=…".
var version = "dev"

func main() {
	o, err := parseOptions(os.Args[1:], os.Getenv)
	if err != nil {
		os.Stderr.WriteString("plinth-agent: " + err.Error() + "\n" + usage + "\n")
		os.Exit(2)
	}
	if o.help {
		os.Stderr.WriteString(usage + "\n")
		return
	}
	if o.ver {
		os.Stdout.WriteString(version + "\n")
		return
	}
	if v := os.Getenv("PLINTH_AGENT_TEST_VERSION"); v != "" {
		version = v
	}
	// The agent's memory is bounded by the credit windows; a soft limit keeps a burst
	// of transfers from growing the heap past what a small guest can spare.
	debug.SetMemoryLimit(64 << 20)

	pid1 := os.Getpid() == 1
	if pid1 {
		proc.StartReaper()
		ensureStdio()
	}
	logf := newLogger(o.quiet)
	// Writes to a closed stdout must fail with EPIPE, not kill the agent.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)

	if pid1 || o.init {
		initsys.Log = func(m string) { os.Stderr.WriteString("plinth-init: " + m + "\n") }
		initsys.Boot()
		os.Stdout.WriteString("plinth-init: starting agent\n")
	}

	a := agent.New(version)
	a.Log = logf
	a.PowerOff = powerOff(pid1, logf)
	if err := a.LoadDefaults(agent.DefaultsFile); err != nil {
		logf("exec defaults ignored: " + err.Error())
	}
	if pid1 || o.init {
		if err := a.StartEntrypoint(os.Stdout); err != nil {
			os.Stdout.WriteString("plinth-init: entrypoint not started: " + err.Error() + "\n")
		}
	}
	agent.SetOrphanCounter(proc.Orphans)

	stop := make(chan struct{})
	var stopOnce sync.Once
	var closers []io.Closer
	var closersMu sync.Mutex
	shutdown := func() {
		stopOnce.Do(func() {
			close(stop)
			closersMu.Lock()
			for _, c := range closers {
				c.Close()
			}
			closersMu.Unlock()
			a.CloseAll()
			// Let the dropped sessions kill their process groups and remove temp files.
			deadline := time.Now().Add(3 * time.Second)
			for a.Connections() > 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			os.Exit(0)
		})
	}
	handleSignals(pid1, a, shutdown, logf)

	addCloser := func(c io.Closer) {
		closersMu.Lock()
		closers = append(closers, c)
		closersMu.Unlock()
	}
	serve := func() {
		switch o.kind {
		case stdio:
			logf(version + " serving stdio")
			a.Serve(transport.Stdio{})
			shutdown()
		case virtio:
			logf(version + " serving virtio-serial " + o.path)
			transport.ServeVirtio(transport.VirtioOptions{Path: o.path, Log: logf, Stop: stop},
				func(rw io.ReadWriteCloser) { a.Serve(rw) })
		case unix, vsock:
			var l *transport.Listener
			var err error
			if o.kind == unix {
				l, err = transport.ListenUnix(o.path)
			} else {
				l, err = transport.ListenVsock(o.port)
			}
			if err != nil {
				logf("cannot listen: " + err.Error())
				if !pid1 {
					os.Exit(1)
				}
				time.Sleep(time.Second)
				return
			}
			addCloser(l)
			logf(version + " serving " + l.Name())
			acceptLoop(a, l, o.kind == vsock, stop, logf)
		}
	}
	for {
		func() {
			defer func() {
				if p := recover(); p != nil {
					logf("internal error (serving again): " + panicString(p) + "\n" + string(debug.Stack()))
				}
			}()
			serve()
		}()
		select {
		case <-stop:
			select {} // shutdown exits
		default:
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// newLogger writes log lines to stderr from a goroutine of its own: a slow serial
// console must not hold up a session. Lines that find the queue full are dropped.
func newLogger(quiet bool) func(string) {
	if quiet {
		return func(string) {}
	}
	lines := make(chan string, 256)
	go func() {
		for line := range lines {
			os.Stderr.WriteString(line)
		}
	}()
	return func(m string) {
		select {
		case lines <- "plinth-agent: " + m + "\n":
		default:
		}
	}
}

// ensureStdio opens /dev/null on fds 0-2 if the kernel left them closed (no console),
// so no socket or file the agent opens later can land on them.
func ensureStdio() {
	for fd := 0; fd <= 2; fd++ {
		if _, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0); e == syscall.EBADF {
			for _, dev := range []string{"/dev/console", "/dev/null"} {
				if nfd, err := syscall.Open(dev, syscall.O_RDWR|syscall.O_NOCTTY, 0); err == nil {
					if nfd != fd {
						_ = syscall.Dup3(nfd, fd, 0)
						syscall.Close(nfd)
					}
					break
				}
			}
		}
	}
}

func panicString(p interface{}) string {
	if e, ok := p.(error); ok {
		return e.Error()
	}
	if s, ok := p.(string); ok {
		return s
	}
	return "panic"
}

// acceptLoop serves every connection of a listener: concurrently for Unix sockets
// (development, tests), one at a time for vsock, where a new connection drops the
// previous one (the host reconnected, e.g. after a snapshot restore).
func acceptLoop(a *agent.Agent, l *transport.Listener, single bool, stop <-chan struct{}, logf func(string)) {
	var current *os.File
	for {
		conn, err := l.Accept()
		if err != nil {
			select {
			case <-stop:
				return
			default:
			}
			logf("accept: " + err.Error())
			if strings.Contains(err.Error(), "closed") {
				return
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if single && current != nil {
			current.Close()
		}
		current = conn
		go func() {
			defer func() {
				if p := recover(); p != nil {
					logf("internal error: " + panicString(p) + "\n" + string(debug.Stack()))
				}
			}()
			a.Serve(conn)
		}()
	}
}

// handleSignals: SIGHUP drops every connection (their sessions end as on a disconnect)
// and keeps serving. Otherwise SIGTERM and SIGINT end the agent; as PID 1, where the
// kernel would panic if it exited, they follow busybox init instead: SIGTERM and SIGINT
// reboot, SIGUSR1, SIGUSR2 and SIGPWR power off.
func handleSignals(pid1 bool, a *agent.Agent, shutdown func(), logf func(string)) {
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1,
		syscall.SIGUSR2, syscall.SIGPWR)
	go func() {
		for sig := range ch {
			switch {
			case sig == syscall.SIGHUP:
				logf("SIGHUP: dropping every connection")
				a.CloseAll()
			case !pid1 && (sig == syscall.SIGTERM || sig == syscall.SIGINT):
				shutdown()
			case pid1 && (sig == syscall.SIGTERM || sig == syscall.SIGINT):
				logf("signal " + sig.String() + ": rebooting")
				_ = initsys.PowerOff("reboot")
			case pid1:
				logf("signal " + sig.String() + ": powering off")
				_ = initsys.PowerOff("poweroff")
			}
		}
	}()
}

// powerOff is what shutdown does once its reply is out. PLINTH_AGENT_TEST_POWEROFF=FILE
// (tests) appends the action to FILE instead. As PID 1: sync and reboot(2). Otherwise
// ask the init (systemctl, then poweroff/reboot), and reboot(2) if nothing else works.
func powerOff(pid1 bool, logf func(string)) func(string) {
	testFile := os.Getenv("PLINTH_AGENT_TEST_POWEROFF")
	return func(action string) {
		if testFile != "" {
			f, err := os.OpenFile(testFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			if err == nil {
				f.WriteString(action + "\n")
				f.Close()
			}
			return
		}
		if !pid1 {
			for _, argv := range [][]string{{"systemctl", "--no-block", action}, {action}} {
				if proc.Success(proc.Run(30*time.Second, nil, argv[0], argv[1:]...)) {
					return
				}
			}
		}
		if err := initsys.PowerOff(action); err != nil {
			logf(action + " failed: " + err.Error())
		}
	}
}
