package agent

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"plinth/agent/internal/proc"
	"plinth/agent/internal/wire"
)

type ptySize struct{ rows, cols uint16 }

type execParams struct {
	argv      []string
	user      interface{}
	hasUser   bool
	timeoutMs int64
	stdin     bool
	env       [][2]string
	clearEnv  bool
	cwd       string
	hasCwd    bool
	pty       *ptySize
}

func parseExec(a args) (interface{}, error) {
	argv, hasArgv, err := a.optStrings("argv")
	if err != nil {
		return nil, err
	}
	command, hasCommand, err := a.optStr("command")
	if err != nil {
		return nil, err
	}
	if hasArgv == hasCommand {
		return nil, badRequest("exec needs exactly one of argv and command")
	}
	if hasArgv && len(argv) == 0 {
		return nil, badRequest("argv must not be empty")
	}
	shell, hasShell, err := a.optStr("shell")
	if err != nil {
		return nil, err
	}
	if !hasShell {
		shell = "/bin/sh"
	}
	p := &execParams{argv: argv}
	if hasCommand {
		p.argv = []string{shell, "-c", command}
	}
	if p.user, err = a.optID("user"); err != nil {
		return nil, err
	}
	p.hasUser = p.user != nil
	if p.timeoutMs, _, err = a.optInt("timeoutMs", 1, maxSafeInteger); err != nil {
		return nil, err
	}
	if p.stdin, err = a.optBool("stdin"); err != nil {
		return nil, err
	}
	if p.env, err = a.optEnv("env"); err != nil {
		return nil, err
	}
	if p.clearEnv, err = a.optBool("clearEnv"); err != nil {
		return nil, err
	}
	if p.cwd, p.hasCwd, err = a.optPath("cwd"); err != nil {
		return nil, err
	}
	switch v := a["pty"].(type) {
	case nil:
	case bool:
		if v {
			p.pty = &ptySize{24, 80}
		}
	case map[string]interface{}:
		rows, cols, err := parseSize(args(v))
		if err != nil {
			return nil, err
		}
		p.pty = &ptySize{rows, cols}
	default:
		return nil, badRequest(`"pty" must be an object {rows, cols}`)
	}
	return p, nil
}

type execResponse struct {
	Pid        int     `json:"pid"`
	ExitCode   *int    `json:"exitCode"`
	Signal     *string `json:"signal"`
	TimedOut   bool    `json:"timedOut"`
	DurationMs int64   `json:"durationMs"`
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// execEnv is the child's environment: the agent's (unless clearEnv), the account's
// USER, LOGNAME, HOME and SHELL, then the request's; a pty also gets a TERM.
func execEnv(base []string, p *execParams, acc *account) []string {
	var list []string
	index := map[string]int{}
	set := func(k, v string) {
		kv := k + "=" + v
		if i, ok := index[k]; ok {
			list[i] = kv
		} else {
			index[k] = len(list)
			list = append(list, kv)
		}
	}
	if !p.clearEnv {
		for _, kv := range base {
			if k, v, ok := strings.Cut(kv, "="); ok {
				set(k, v)
			}
		}
	}
	if acc != nil && acc.named {
		set("USER", acc.name)
		set("LOGNAME", acc.name)
		if acc.home != "" {
			set("HOME", acc.home)
		}
		if acc.shell != "" {
			set("SHELL", acc.shell)
		}
	}
	hasTerm := false
	for _, kv := range p.env {
		set(kv[0], kv[1])
		hasTerm = hasTerm || kv[0] == "TERM"
	}
	if p.pty != nil && !hasTerm {
		set("TERM", "xterm-256color")
	}
	return list
}

// runExec runs a program in its own session and process group, so a timeout, a CANCEL
// or the end of the session signals everything it started. The reply comes once it
// exited and its output closed and reached the host.
func runExec(ag *Agent, r *request, params interface{}) (interface{}, error) {
	p := params.(*execParams)
	// Claim stdin now: the host may stream it before the process has started.
	var stdin *input
	if p.stdin || p.pty != nil {
		stdin = r.input(wire.ChanStdin)
	}
	var acc *account
	if p.hasUser {
		a, err := ag.resolveUser(p.user)
		if err != nil {
			return nil, err
		}
		acc = &a
	} else if a, err := ag.defaultAccount(); err != nil {
		return nil, err
	} else {
		acc = a
	}
	cwd := p.cwd
	if !p.hasCwd {
		cwd = ag.Cwd
		if ag.DefaultCwd != "" && isDir(ag.DefaultCwd) {
			cwd = ag.DefaultCwd
		} else if acc != nil && acc.home != "" && isDir(acc.home) {
			cwd = acc.home
		}
	} else if !isDir(cwd) {
		return nil, &OpError{Code: "ENOENT", Message: "cwd " + cwd + " is not an existing directory",
			Details: map[string]interface{}{"path": cwd}}
	}
	if r.isAborted() {
		return nil, r.cause()
	}
	env := execEnv(ag.BaseEnv, p, acc)
	path, err := proc.LookPath(p.argv[0], env)
	if err != nil {
		return nil, &os.PathError{Op: "spawn", Path: p.argv[0], Err: err}
	}

	sys := &syscall.SysProcAttr{Setsid: true}
	if acc != nil {
		sys.Credential = &syscall.Credential{Uid: acc.uid, Gid: acc.gid, Groups: ag.groupsOf(*acc)}
	}
	// Our ends (read by the forwarders, written by the feeder) and the child's.
	var readers []*os.File
	var childEnds []*os.File
	var stdinW *os.File
	var master *os.File
	closeAll := func(files []*os.File) {
		for _, f := range files {
			f.Close()
		}
	}
	var files []uintptr
	if p.pty != nil {
		m, slave, err := openPty(p.pty.rows, p.pty.cols)
		if err != nil {
			return nil, err
		}
		master = m
		readers = []*os.File{m}
		childEnds = []*os.File{slave}
		fd := slave.Fd()
		files = []uintptr{fd, fd, fd}
		sys.Setctty = true
		sys.Ctty = 0
	} else {
		outR, outW, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		errR, errW, err := os.Pipe()
		if err != nil {
			closeAll([]*os.File{outR, outW})
			return nil, err
		}
		readers = []*os.File{outR, errR}
		childEnds = []*os.File{outW, errW}
		in := proc.DevNull()
		if p.stdin {
			inR, inW, err := os.Pipe()
			if err != nil {
				closeAll(append(readers, childEnds...))
				return nil, err
			}
			stdinW = inW
			childEnds = append(childEnds, inR)
			in = inR.Fd()
		}
		files = []uintptr{in, outW.Fd(), errW.Fd()}
	}
	pid, wait, err := proc.Start(path, p.argv, &syscall.ProcAttr{Dir: cwd, Env: env, Files: files, Sys: sys})
	closeAll(childEnds)
	if err != nil {
		closeAll(readers)
		if stdinW != nil {
			stdinW.Close()
		}
		return nil, &os.PathError{Op: "spawn", Path: p.argv[0], Err: err}
	}
	started := time.Now()
	finished := make(chan struct{})
	defer close(finished)

	// Before any output can reach the host: a CANCEL it sends in answer must signal.
	if master != nil {
		r.setResize(func(rows, cols uint16) error {
			if err := setWinsize(master, rows, cols); err != nil {
				if errors.Is(err, os.ErrClosed) {
					return opError(codeNotRunning, "exec "+strconv.Itoa(pid)+" has ended")
				}
				return err
			}
			return nil
		})
	}
	r.setCancel(func(signal string) {
		sig := syscall.SIGKILL
		if signal != "" {
			s, ok := signalsByName[signal]
			if !ok {
				ag.logf("exec ", strconv.Itoa(pid), ": ignoring unknown signal ", signal)
				return
			}
			sig = s
		}
		killGroup(pid, sig)
	})
	var forwarders sync.WaitGroup
	channels := []uint8{wire.ChanStdout, wire.ChanStderr}
	for i, f := range readers {
		forwarders.Add(1)
		go forward(f, r.output(channels[i]), &forwarders, master == nil)
	}
	if stdin != nil {
		if master != nil {
			go feedPty(stdin, master)
		} else {
			go feed(stdin, stdinW)
		}
	}
	var timedOut atomic.Bool
	if p.timeoutMs > 0 {
		timer := time.AfterFunc(time.Duration(p.timeoutMs)*time.Millisecond, func() {
			timedOut.Store(true)
			killGroup(pid, syscall.SIGKILL)
		})
		defer timer.Stop()
	}
	// Dropped (session over) or refused (flow control): kill, and stop reading pipes a
	// daemon may hold open.
	go func() {
		select {
		case <-r.aborted():
			killGroup(pid, syscall.SIGKILL)
			closeAll(readers)
			if stdinW != nil {
				stdinW.Close()
			}
		case <-finished:
		}
	}()

	ws := <-wait
	forwarders.Wait()
	if master != nil {
		master.Close()
	}
	res := &execResponse{Pid: pid, TimedOut: timedOut.Load(), DurationMs: time.Since(started).Milliseconds()}
	if ws.Signaled() {
		name := SignalName(ws.Signal())
		res.Signal = &name
	} else {
		code := ws.ExitStatus()
		res.ExitCode = &code
	}
	return res, nil
}

// forward sends what f produces to the host. While the host grants no credit, write
// blocks and f is not read: the child's pipe fills and the child blocks in write(2).
// A pty master is not closed here: its slave reads EIO as soon as the program closed
// its last descriptor of it, which may be before it exited, and closing the master then
// would hang up the terminal and kill the program with SIGHUP.
func forward(f *os.File, out *output, wg *sync.WaitGroup, closeAtEnd bool) {
	defer wg.Done()
	if closeAtEnd {
		defer f.Close()
	}
	buf := make([]byte, wire.DataChunkSize)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			out.write(buf[:n])
		}
		if err != nil {
			return // EOF; EIO on a pty whose slave closed; or closed by an abort
		}
	}
}

// feed writes the host's stdin to the child's, consuming (and so granting credit) only
// as the pipe takes it. Once the pipe is gone it keeps consuming so the host's writes
// complete; the exit status tells that story.
func feed(in *input, w *os.File) {
	defer w.Close()
	ok := true
	for {
		b, more := in.next()
		if !more {
			return
		}
		if ok {
			if _, err := w.Write(b); err != nil {
				ok = false
			}
		}
	}
}

// feedPty writes the host's input to the terminal; END sends the terminal's end-of-file
// character when it is in canonical mode (a shell reading lines then sees EOF).
func feedPty(in *input, master *os.File) {
	ok := true
	for {
		b, more := in.next()
		if !more {
			break
		}
		if ok {
			if _, err := master.Write(b); err != nil {
				ok = false
			}
		}
	}
	if ok && !in.aborted() {
		if c := eofChar(master); c != 0 {
			_, _ = master.Write([]byte{c})
		}
	}
}
