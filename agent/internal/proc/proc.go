// Package proc starts processes and reaps every child of the agent. One loop handles
// SIGCHLD with wait4(-1, WNOHANG): it hands the exit status of a process started here to
// whoever waits for it, and reaps anything else (orphans re-parented to the agent when it
// is PID 1 or a subreaper) so no zombie is left. Nothing else in the agent may wait for
// processes, or it would steal exit statuses from this loop.
package proc

import (
	"errors"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

var (
	mu      sync.Mutex
	waiters = map[int]chan syscall.WaitStatus{}
	once    sync.Once
	reaped  uint64
)

// StartReaper starts reaping now (PID 1 calls it first thing: orphans may exist before
// the agent starts anything itself). Start calls it too.
func StartReaper() { startReaper() }

func startReaper() {
	once.Do(func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGCHLD)
		go func() {
			// Signals coalesce, so each wakeup reaps until nothing is left; one that
			// arrives during a pass is queued in ch and starts another.
			for range ch {
				reapAll()
			}
		}()
	})
}

func reapAll() {
	mu.Lock()
	defer mu.Unlock()
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		if !ws.Exited() && !ws.Signaled() {
			continue // stopped or continued: not an exit
		}
		if w, ok := waiters[pid]; ok {
			delete(waiters, pid)
			w <- ws
		} else {
			reaped++
		}
	}
}

// Orphans returns how many processes not started here were reaped so far.
func Orphans() uint64 {
	mu.Lock()
	defer mu.Unlock()
	return reaped
}

// Start starts a process; the returned channel receives its exit status once. The lock
// held from fork to registration keeps the reaper from taking the status before anyone
// waits for it (and from reaping a child ForkExec reaps itself when exec fails).
func Start(path string, argv []string, attr *syscall.ProcAttr) (int, <-chan syscall.WaitStatus, error) {
	startReaper()
	mu.Lock()
	defer mu.Unlock()
	pid, err := syscall.ForkExec(path, argv, attr)
	if err != nil {
		return 0, nil, err
	}
	w := make(chan syscall.WaitStatus, 1)
	waiters[pid] = w
	return pid, w, nil
}

// LookPath finds a program the way execvp would, in the PATH of env (or a default).
// A name with a slash is used as it is. It returns ENOENT or EACCES like exec would.
func LookPath(name string, env []string) (string, error) {
	if name == "" {
		return "", syscall.ENOENT
	}
	if strings.Contains(name, "/") {
		return name, nil
	}
	path := DefaultPath
	for _, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			path = kv[5:]
		}
	}
	denied := false
	for _, dir := range strings.Split(path, ":") {
		if dir == "" {
			dir = "."
		}
		p := dir + "/" + name
		var st syscall.Stat_t
		if syscall.Stat(p, &st) != nil || st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
			continue
		}
		if syscall.Access(p, 1) == nil {
			return p, nil
		}
		denied = true
	}
	if denied {
		return "", syscall.EACCES
	}
	return "", syscall.ENOENT
}

// DefaultPath is the PATH of programs the agent starts when its own environment has none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

var (
	devNullOnce sync.Once
	devNull     uintptr
)

// DevNull is an fd of /dev/null (opened once), for a child's stdin.
func DevNull() uintptr {
	devNullOnce.Do(func() {
		fd, err := syscall.Open("/dev/null", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
		if err != nil {
			// No /dev yet (early PID 1): a closed-pipe read end reads as EOF just the same.
			var p [2]int
			if syscall.Pipe2(p[:], syscall.O_CLOEXEC) == nil {
				syscall.Close(p[1])
				fd = p[0]
			}
		}
		devNull = uintptr(fd)
	})
	return devNull
}

// Run runs a program to completion with stdin from /dev/null and stdout/stderr on out
// (the agent's own stderr when nil), within timeout (0: none; then SIGKILL).
func Run(timeout time.Duration, out *os.File, name string, args ...string) (syscall.WaitStatus, error) {
	env := os.Environ()
	path, err := LookPath(name, env)
	if err != nil {
		return 0, &os.PathError{Op: "exec", Path: name, Err: err}
	}
	if out == nil {
		out = os.Stderr
	}
	fd := out.Fd()
	pid, wait, err := Start(path, append([]string{name}, args...), &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{DevNull(), fd, fd},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		return 0, &os.PathError{Op: "exec", Path: path, Err: err}
	}
	if timeout <= 0 {
		return <-wait, nil
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case ws := <-wait:
		return ws, nil
	case <-timer.C:
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = syscall.Kill(pid, syscall.SIGKILL)
		<-wait
		return 0, errors.New(name + " timed out")
	}
}

// Success tells whether a Run ended with exit code 0.
func Success(ws syscall.WaitStatus, err error) bool {
	return err == nil && ws.Exited() && ws.ExitStatus() == 0
}
