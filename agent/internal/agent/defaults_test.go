package agent

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"plinth/agent/internal/wire"
)

func TestExecDefaultsFromTheImage(t *testing.T) {
	ta, p := startAgent(t)
	file := filepath.Join(ta.dir, "exec-defaults.json")
	work := filepath.Join(ta.dir, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(`{"env":["PATH=/opt/bin:/usr/bin:/bin","LANG=C.UTF-8","BAD"],"cwd":"`+work+`","user":"0:5"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ta.LoadDefaults(file); err != nil {
		t.Fatal(err)
	}
	p.hello(1, "d")
	p.request(2, map[string]interface{}{"op": "exec", "command": `echo "$PATH $LANG $(pwd) $(id -u):$(id -g)"`})
	if out, _ := p.output(2, wire.ChanStdout); string(out) != "/opt/bin:/usr/bin:/bin C.UTF-8 "+work+" 0:5\n" {
		t.Fatalf("defaults: %q", out)
	}
	// The request's own settings win.
	p.request(3, map[string]interface{}{"op": "exec", "command": "echo $LANG; pwd", "cwd": "/", "env": map[string]string{"LANG": "C"}})
	if out, _ := p.output(3, wire.ChanStdout); string(out) != "C\n/\n" {
		t.Fatalf("overridden: %q", out)
	}
	if err := ta.LoadDefaults(filepath.Join(ta.dir, "absent.json")); err != nil {
		t.Fatalf("no file is no error: %v", err)
	}
	os.WriteFile(file, []byte("{"), 0o644)
	if err := ta.LoadDefaults(file); err == nil {
		t.Fatal("a corrupt file must be reported")
	}
}

func TestStartEntrypoint(t *testing.T) {
	ta, _ := startAgent(t)
	marker := filepath.Join(ta.dir, "started")
	file := filepath.Join(ta.dir, "d.json")
	os.WriteFile(file, []byte(`{"env":["WHO=entry"],"cwd":"`+ta.dir+`","entrypoint":["sh","-c","echo $WHO $(pwd) > started"]}`), 0o644)
	if err := ta.LoadDefaults(file); err != nil {
		t.Fatal(err)
	}
	if err := ta.StartEntrypoint(os.Stderr); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		if b, _ := os.ReadFile(marker); string(b) == "entry "+ta.dir+"\n" {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the entrypoint did not run in the image's cwd with its env")
}
