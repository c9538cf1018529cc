package initsys

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseSysctlLine(t *testing.T) {
	for line, want := range map[string][2]string{
		"net.ipv4.ip_forward = 1":          {"net/ipv4/ip_forward", "1"},
		"  kernel.printk=3 4 1 3 ":         {"kernel/printk", "3 4 1 3"},
		"-net.core.somaxconn = 4096":       {"net/core/somaxconn", "4096"},
		"net/ipv4/conf/eth0.1/rp_filter=0": {"net/ipv4/conf/eth0.1/rp_filter", "0"},
	} {
		k, v, ok := ParseSysctlLine(line)
		if !ok || [2]string{k, v} != want {
			t.Errorf("%q: %q %q %v", line, k, v, ok)
		}
	}
	for _, line := range []string{"", "# c", "; c", "novalue", "../../etc/passwd = x", " = 1"} {
		if _, _, ok := ParseSysctlLine(line); ok {
			t.Errorf("%q accepted", line)
		}
	}
}

func TestCmdlineValue(t *testing.T) {
	cmdline := `console=ttyS0 plinth.hostname=box plinth.ssh_key="ssh-ed25519 AAAA x@y" plinth.hostname=last root=/dev/vda`
	if v, ok := CmdlineValue(cmdline, "plinth.hostname"); !ok || v != "last" {
		t.Fatal(v, ok)
	}
	if v, ok := CmdlineValue(cmdline, "plinth.ssh_key"); !ok || v != "ssh-ed25519 AAAA x@y" {
		t.Fatal(v, ok)
	}
	if _, ok := CmdlineValue(cmdline, "plinth.ip"); ok {
		t.Fatal("found a missing key")
	}
}

func TestEnsureMachineID(t *testing.T) {
	dir := t.TempDir()
	uuid := filepath.Join(dir, "uuid")
	file := filepath.Join(dir, "machine-id")
	if err := os.WriteFile(uuid, []byte("0b4f6c1e-9d2a-4c3b-8e7f-1a2b3c4d5e6f\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, had := range []string{"-", "", "uninitialized\n"} {
		if had != "-" {
			if err := os.WriteFile(file, []byte(had), 0o444); err != nil {
				t.Fatal(err)
			}
		}
		if err := EnsureMachineID(file, uuid); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(file); string(b) != "0b4f6c1e9d2a4c3b8e7f1a2b3c4d5e6f\n" {
			t.Fatalf("after %q: %q", had, b)
		}
		os.Remove(file)
	}
	// An id the machine already has is kept.
	if err := os.WriteFile(file, []byte("ffffffffffffffffffffffffffffffff\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	if err := EnsureMachineID(file, uuid); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(file); string(b) != "ffffffffffffffffffffffffffffffff\n" {
		t.Fatalf("kept id replaced: %q", b)
	}
}
