package proc

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestStartAndWait(t *testing.T) {
	for _, code := range []int{0, 3} {
		pid, wait, err := Start("/bin/sh", []string{"sh", "-c", "exit " + string(rune('0'+code))},
			&syscall.ProcAttr{Files: []uintptr{DevNull(), 1, 2}})
		if err != nil || pid <= 0 {
			t.Fatal(err)
		}
		select {
		case ws := <-wait:
			if !ws.Exited() || ws.ExitStatus() != code {
				t.Fatalf("status %v", ws)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no exit status")
		}
	}
	if _, _, err := Start("/no/such", []string{"x"}, &syscall.ProcAttr{}); err != syscall.ENOENT {
		t.Fatalf("missing program: %v", err)
	}
}

func TestRunAndTimeout(t *testing.T) {
	if !Success(Run(5*time.Second, nil, "true")) {
		t.Fatal("true failed")
	}
	if Success(Run(5*time.Second, nil, "false")) {
		t.Fatal("false succeeded")
	}
	start := time.Now()
	if _, err := Run(100*time.Millisecond, nil, "sleep", "10"); err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("timeout: %v after %v", err, time.Since(start))
	}
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "noexec"), []byte("#!/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "prog"), []byte("#!/bin/sh\n"), 0o755)
	env := []string{"PATH=" + dir}
	if p, err := LookPath("prog", env); err != nil || p != dir+"/prog" {
		t.Fatal(p, err)
	}
	if _, err := LookPath("nothere", env); err != syscall.ENOENT {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		if _, err := LookPath("noexec", env); err != syscall.EACCES {
			t.Fatal(err)
		}
	}
	if p, _ := LookPath("sh", nil); p == "" {
		t.Fatal("no sh in the default PATH")
	}
}
