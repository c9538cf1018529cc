package initsys

import "testing"

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
