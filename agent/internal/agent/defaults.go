package agent

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"plinth/agent/internal/proc"
)

// DefaultsFile holds what an exec gets when its request does not say: a container base
// image's Env, WorkingDir and User, written there by the build (docs/agent-protocol.md).
const DefaultsFile = "/etc/plinth/exec-defaults.json"

type execDefaults struct {
	Env  []string `json:"env"`
	Cwd  string   `json:"cwd"`
	User string   `json:"user"`
	// Entrypoint + Cmd, when the spec runs them as a service (oci.entrypoint: service).
	Entrypoint []string `json:"entrypoint"`
}

// LoadDefaults applies file's defaults to every later exec. No file: nothing changes.
func (a *Agent) LoadDefaults(file string) error {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var d execDefaults
	if err := json.Unmarshal(data, &d); err != nil {
		return errors.New(file + ": " + err.Error())
	}
	// The image's variables override the agent's own (its PATH above all).
	env := append([]string{}, a.BaseEnv...)
	for _, kv := range d.Env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		replaced := false
		for i, old := range env {
			if strings.HasPrefix(old, k+"=") {
				env[i], replaced = kv, true
			}
		}
		if !replaced {
			env = append(env, kv)
		}
	}
	a.BaseEnv = env
	a.DefaultCwd = d.Cwd
	a.entrypoint = d.Entrypoint
	if d.User != "" {
		a.DefaultUser = d.User
	}
	return nil
}

// defaultAccount is the image's User as an account: OCI's "user", "uid", "user:group" or
// "uid:gid", the group (when given) replacing the user's own, as a container runtime does.
func (a *Agent) defaultAccount() (*account, error) {
	spec, ok := a.DefaultUser.(string)
	if !ok || spec == "" {
		return nil, nil
	}
	name, _, _ := strings.Cut(spec, ":")
	acc, err := a.resolveUser(name)
	if err != nil {
		return nil, err
	}
	_, gid, err := a.resolveOwner(spec)
	if err != nil {
		return nil, err
	}
	acc.gid = gid
	return &acc, nil
}

// StartEntrypoint runs the image's entrypoint once, as the container would: its Env,
// WorkingDir and User, output to out (the console), reaped like any orphan. Under systemd
// a unit runs it instead (the build writes one), so only the agent as init calls this.
func (a *Agent) StartEntrypoint(out *os.File) error {
	if len(a.entrypoint) == 0 {
		return nil
	}
	sys := &syscall.SysProcAttr{Setsid: true}
	acc, err := a.defaultAccount()
	if err != nil {
		return err
	}
	if acc != nil {
		sys.Credential = &syscall.Credential{Uid: acc.uid, Gid: acc.gid, Groups: a.groupsOf(*acc)}
	}
	env := execEnv(a.BaseEnv, &execParams{}, acc)
	path, err := proc.LookPath(a.entrypoint[0], env)
	if err != nil {
		return err
	}
	cwd := "/"
	if a.DefaultCwd != "" && isDir(a.DefaultCwd) {
		cwd = a.DefaultCwd
	}
	files := []uintptr{proc.DevNull(), out.Fd(), out.Fd()}
	_, _, err = proc.Start(path, a.entrypoint, &syscall.ProcAttr{Dir: cwd, Env: env, Files: files, Sys: sys})
	return err
}
