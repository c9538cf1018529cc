package agent

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"plinth/agent/internal/proc"
	"plinth/agent/internal/wire"
)

func TestHelloPingAndProtocolMismatch(t *testing.T) {
	_, p := startAgent(t)
	p.request(1, map[string]interface{}{"op": "ping"})
	if b := body(p.reply(1)); b["code"] != codeNoHello {
		t.Fatalf("before hello: %v", b)
	}
	hello := p.hello(2, "n1")
	if hello["agent"] != Name || hello["version"] != "9.9.9-test" || hello["session"] != 1.0 ||
		hello["maxFrameSize"] != float64(wire.MaxFrameSize) || hello["window"] != float64(wire.InitialWindow) {
		t.Fatalf("hello: %v", hello)
	}
	caps, _ := json.Marshal(hello["capabilities"])
	for _, op := range []string{"ping", "exec", "file.write", "exec.resize", "exec.pty"} {
		if !strings.Contains(string(caps), `"`+op+`"`) {
			t.Fatalf("capabilities %s lack %s", caps, op)
		}
	}
	p.request(3, map[string]interface{}{"op": "ping"})
	if ev := p.reply(3); ev.Type != wire.Response || body(ev)["uptimeMs"] == nil {
		t.Fatalf("ping: %v", body(ev))
	}
	p.request(4, map[string]interface{}{"op": "hello", "protocol": map[string]int{"major": 2, "minor": 0}, "nonce": "n2"})
	b := body(p.reply(4))
	if b["code"] != codeProtocolMismatch || b["nonce"] != "n2" || b["agentVersion"] != "9.9.9-test" {
		t.Fatalf("mismatch: %v", b)
	}
	p.request(5, map[string]interface{}{"op": "ping"})
	if b := body(p.reply(5)); b["code"] != codeNoHello {
		t.Fatalf("after a refused hello: %v", b)
	}
}

func TestBadFramesGetErrors(t *testing.T) {
	_, p := startAgent(t)
	p.hello(1, "x")
	cases := []struct {
		frame []byte
		id    uint32
		code  string
	}{
		{wire.Frame(wire.Request, 0, 10, []byte("{not json")), 10, codeBadRequest},
		{wire.Frame(wire.Request, 0, 11, []byte("[1,2]")), 11, codeBadRequest},
		{wire.Frame(wire.Request, 0, 12, []byte(`{"op":"format-disk"}`)), 12, codeUnknownOp},
		{wire.Frame(wire.Request, 0, 13, []byte(`{"op":"file.stat","path":"relative"}`)), 13, codeBadRequest},
		{wire.Frame(wire.Request, 0, 14, []byte(`{"op":"exec","argv":"ls"}`)), 14, codeBadRequest},
		{wire.Frame(wire.Request, 0, 15, []byte(`null`)), 15, codeBadRequest},
		{wire.Frame(wire.Response, 0, 16, []byte("{}")), 16, codeBadFrame},
		{wire.Frame(0x7f, 0, 17, []byte("??")), 17, codeBadFrame},
		{wire.Frame(wire.Credit, 0, 18, []byte{1, 2, 3}), 18, codeBadFrame},
		{wire.Frame(wire.Cancel, 0, 19, []byte("{oops")), 19, codeBadFrame},
		{wire.Frame(wire.Request, 0, 20, []byte(`{"op":"`+strings.Repeat("x", wire.MaxFrameSize-100)+`"}`)), 20, codeUnknownOp},
	}
	for _, c := range cases {
		p.send(c.frame)
		ev := p.reply(c.id)
		if ev.Type != wire.Error || body(ev)["code"] != c.code {
			t.Fatalf("frame %d: %v", c.id, body(ev))
		}
	}
	hdr := make([]byte, wire.HeaderSize)
	wire.PutHeader(hdr, wire.Header{Type: wire.Request, ID: 77, Length: wire.MaxFrameSize + 1})
	p.send(hdr)
	p.send(make([]byte, wire.MaxFrameSize+1))
	if b := body(p.reply(77)); b["code"] != codeFrameTooLarge {
		t.Fatalf("oversize: %v", b)
	}
	p.send([]byte("garbage\xf7\xf7"))
	p.request(78, map[string]interface{}{"op": "ping"})
	notice := body(p.next(func(ev wire.Event) bool { return ev.ID == 0 && ev.Type == wire.Error }, 5*time.Second))
	if notice["code"] != codeResync || notice["skipped"] != 9.0 {
		t.Fatalf("notice %v", notice)
	}
	if ev := p.reply(78); ev.Type != wire.Response {
		t.Fatalf("ping after garbage: %v", body(ev))
	}
}

func TestExecAndFiles(t *testing.T) {
	ta, p := startAgent(t)
	p.hello(1, "x")
	p.request(2, map[string]interface{}{"op": "exec", "command": "echo out; echo err >&2; exit 7"})
	out, reply := p.output(2, wire.ChanStdout)
	b := body(reply)
	if string(out) != "out\n" || b["exitCode"] != 7.0 || b["signal"] != nil || b["timedOut"] != false {
		t.Fatalf("exec: %q %v", out, b)
	}
	p.request(3, map[string]interface{}{"op": "exec", "argv": []string{"/no/such/program"}})
	if b := body(p.reply(3)); b["code"] != "ENOENT" {
		t.Fatalf("missing program: %v", b)
	}
	p.request(4, map[string]interface{}{"op": "exec", "argv": []string{"cat"}, "stdin": true})
	p.send(wire.Frame(wire.Data, wire.ChanStdin, 4, []byte("typed")))
	p.send(wire.Frame(wire.End, wire.ChanStdin, 4, nil))
	if out, reply := p.output(4, wire.ChanStdout); string(out) != "typed" || body(reply)["exitCode"] != 0.0 {
		t.Fatalf("cat: %q %v", out, body(reply))
	}
	p.request(5, map[string]interface{}{"op": "exec", "command": "sleep 30 & sleep 30", "timeoutMs": 200})
	if b := body(p.reply(5)); b["timedOut"] != true || b["signal"] != "SIGKILL" {
		t.Fatalf("timeout: %v", b)
	}

	file := filepath.Join(ta.dir, "f")
	p.request(6, map[string]interface{}{"op": "file.write", "path": file, "mode": 0o4751})
	p.send(wire.Frame(wire.Data, wire.ChanData, 6, []byte("content")))
	p.send(wire.Frame(wire.End, wire.ChanData, 6, nil))
	if b := body(p.reply(6)); b["size"] != 7.0 {
		t.Fatalf("write: %v", b)
	}
	st, err := os.Stat(file)
	if err != nil || st.Mode()&os.ModeSetuid == 0 || st.Mode().Perm() != 0o751 {
		t.Fatalf("mode %v %v", st.Mode(), err)
	}
	p.request(7, map[string]interface{}{"op": "file.read", "path": file, "offset": 2, "length": 3})
	if out, reply := p.output(7, wire.ChanData); string(out) != "nte" || body(reply)["size"] != 3.0 {
		t.Fatalf("read: %q %v", out, body(reply))
	}
	p.request(8, map[string]interface{}{"op": "file.stat", "path": file})
	if b := body(p.reply(8)); b["type"] != "file" || b["mode"] != float64(0o4751) || b["size"] != 7.0 {
		t.Fatalf("stat: %v", b)
	}
	p.request(9, map[string]interface{}{"op": "file.list", "path": ta.dir})
	if out, reply := p.output(9, wire.ChanData); !strings.Contains(string(out), `"name":"f"`) || body(reply)["count"] != 1.0 {
		t.Fatalf("list: %q %v", out, body(reply))
	}
	p.request(10, map[string]interface{}{"op": "file.mkdir", "path": filepath.Join(ta.dir, "a/b"), "recursive": true, "mode": 0o705})
	if b := body(p.reply(10)); b["created"] != true {
		t.Fatalf("mkdir: %v", b)
	}
	if st, _ := os.Stat(filepath.Join(ta.dir, "a/b")); st == nil || st.Mode().Perm() != 0o705 {
		t.Fatalf("mkdir mode %v", st)
	}
	p.request(11, map[string]interface{}{"op": "file.remove", "path": filepath.Join(ta.dir, "a")})
	if b := body(p.reply(11)); b["code"] != "ENOTEMPTY" {
		t.Fatalf("remove: %v", b)
	}
	// A symlink at the path is replaced, not followed; the mode of what it pointed to
	// is kept.
	link := filepath.Join(ta.dir, "link")
	os.Symlink(file, link)
	p.request(20, map[string]interface{}{"op": "file.write", "path": link})
	p.send(wire.Frame(wire.End, wire.ChanData, 20, nil))
	if ev := p.reply(20); ev.Type != wire.Response {
		t.Fatalf("write over a symlink: %v", body(ev))
	}
	if st, err := os.Lstat(link); err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != 0o751 || st.Size() != 0 {
		t.Fatalf("link replaced by %v %v", st.Mode(), err)
	}
	if b, _ := os.ReadFile(file); string(b) != "content" {
		t.Fatalf("the link's target was written: %q", b)
	}
	p.request(12, map[string]interface{}{"op": "file.rename", "from": file, "to": file + "2"})
	if ev := p.reply(12); ev.Type != wire.Response {
		t.Fatalf("rename: %v", body(ev))
	}
	p.request(13, map[string]interface{}{"op": "shutdown", "action": "reboot"})
	if b := body(p.reply(13)); b["action"] != "reboot" {
		t.Fatalf("shutdown: %v", b)
	}
	select {
	case action := <-ta.powerOffs:
		if action != "reboot" {
			t.Fatal(action)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no power-off")
	}
}

// A file write that the host abandons (disconnect mid-transfer) leaves no temp file.
func TestDisconnectRemovesTempFileAndKillsProcesses(t *testing.T) {
	ta, p := startAgent(t)
	p.hello(1, "x")
	file := filepath.Join(ta.dir, "partial")
	p.request(2, map[string]interface{}{"op": "file.write", "path": file})
	p.send(wire.Frame(wire.Data, wire.ChanData, 2, bytes.Repeat([]byte{1}, 1000)))
	p.request(3, map[string]interface{}{"op": "exec", "command": "echo $$; exec sleep 30"})
	out := p.next(func(ev wire.Event) bool { return ev.ID == 3 && ev.Type == wire.Data }, 5*time.Second)
	pid := 0
	for _, c := range strings.TrimSpace(string(out.Payload)) {
		pid = pid*10 + int(c-'0')
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		entries, _ := os.ReadDir(ta.dir)
		if len(entries) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.f.Close()
	<-ta.done
	if entries, _ := os.ReadDir(ta.dir); len(entries) != 0 {
		t.Fatalf("left behind: %v", entries)
	}
	if syscall.Kill(pid, 0) == nil {
		t.Fatalf("process %d survived the session", pid)
	}
}

func TestPty(t *testing.T) {
	_, p := startAgent(t)
	p.hello(1, "x")
	p.request(2, map[string]interface{}{"op": "exec", "argv": []string{"/bin/sh"}, "pty": map[string]int{"rows": 30, "cols": 100}})
	var seen []byte
	expect := func(text string) {
		t.Helper()
		for !bytes.Contains(seen, []byte(text)) {
			ev := p.next(func(ev wire.Event) bool { return ev.ID == 2 }, 5*time.Second)
			if ev.Type != wire.Data {
				t.Fatalf("ended before %q: %q %v", text, seen, body(ev))
			}
			seen = append(seen, ev.Payload...)
		}
		seen = seen[bytes.Index(seen, []byte(text))+len(text):]
	}
	p.send(wire.Frame(wire.Data, wire.ChanStdin, 2, []byte("stty size\n")))
	expect("30 100")
	p.request(3, map[string]interface{}{"op": "exec.resize", "id": 2, "rows": 40, "cols": 120})
	if ev := p.reply(3); ev.Type != wire.Response {
		t.Fatalf("resize: %v", body(ev))
	}
	p.send(wire.Frame(wire.Data, wire.ChanStdin, 2, []byte("stty size; echo h''i\n")))
	expect("40 120")
	expect("hi\r\n")
	p.send(wire.Frame(wire.Data, wire.ChanStdin, 2, []byte("exit\n")))
	if b := body(p.reply(2)); b["exitCode"] != 0.0 {
		t.Fatalf("exit: %v", b)
	}
}

const prSetChildSubreaper = 36

// Orphans re-parented to the agent (PID 1, or here a subreaper) are reaped, and the
// agent's own children still get their exit statuses.
func TestReapsOrphans(t *testing.T) {
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); e != 0 {
		t.Skip("no PR_SET_CHILD_SUBREAPER:", e)
	}
	_, p := startAgent(t)
	p.hello(1, "x")
	before := proc.Orphans()
	for i := uint32(0); i < 5; i++ {
		p.request(10+i, map[string]interface{}{"op": "exec", "command": "sleep 0.1 & exit 3"})
		if b := body(p.reply(10 + i)); b["exitCode"] != 3.0 {
			t.Fatalf("exit status: %v", b)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for proc.Orphans() < before+5 || countZombies() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("orphans reaped: %d, zombies: %d", proc.Orphans()-before, countZombies())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestParseOSRelease(t *testing.T) {
	got := ParseOSRelease("NAME=\"Debian GNU/Linux\"\nID=debian\n# c\nX='a b'\nY=\"q\\\"x\"\n")
	want := map[string]string{"NAME": "Debian GNU/Linux", "ID": "debian", "X": "a b", "Y": `q"x`}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%v", got)
	}
}

func TestUsersAndOwners(t *testing.T) {
	dir := t.TempDir()
	a := New("x")
	a.PasswdFile = filepath.Join(dir, "passwd")
	a.GroupFile = filepath.Join(dir, "group")
	os.WriteFile(a.PasswdFile, []byte("root:x:0:0:root:/root:/bin/sh\n#c\nbob:x:1000:100::/home/bob:/bin/bash\nbad:x:y:1::/:/bin/sh\n"), 0o644)
	os.WriteFile(a.GroupFile, []byte("users:x:100:\nwheel:x:10:bob,alice\ndocker:x:999:bob\n"), 0o644)
	if acc, err := a.resolveUser("bob"); err != nil || acc.uid != 1000 || acc.gid != 100 || acc.home != "/home/bob" {
		t.Fatalf("%+v %v", acc, err)
	}
	if acc, err := a.resolveUser(int64(4242)); err != nil || acc.uid != 4242 || acc.gid != 4242 || acc.named {
		t.Fatalf("%+v %v", acc, err)
	}
	if _, err := a.resolveUser("bad"); err == nil {
		t.Fatal("bad entry accepted")
	}
	acc, _ := a.resolveUser("bob")
	if g := a.groupsOf(acc); !reflect.DeepEqual(g, []uint32{10, 999}) {
		t.Fatalf("groups %v", g)
	}
	for owner, want := range map[string][2]uint32{"bob": {1000, 100}, "bob:wheel": {1000, 10}, "1:2": {1, 2}, ":5": {0, 5}} {
		u, g, err := a.resolveOwner(owner)
		if err != nil || [2]uint32{u, g} != want {
			t.Fatalf("%s: %d:%d %v", owner, u, g, err)
		}
	}
	if _, _, err := a.resolveOwner("bob:nope"); err == nil || err.(*OpError).Code != codeUnknownGroup {
		t.Fatalf("%v", err)
	}
}

func TestErrorPayloads(t *testing.T) {
	_, err := os.Open("/no/such/file")
	b := errorPayload(err)
	if b["code"] != "ENOENT" || b["syscall"] != "open" || b["path"] != "/no/such/file" ||
		b["message"] != "ENOENT: no such file or directory, open '/no/such/file'" {
		t.Fatalf("%v", b)
	}
	long := errorFrame(5, map[string]interface{}{"code": "X", "message": strings.Repeat("é", 5000), "path": strings.Repeat("p", 2<<20)})
	if len(long) > wire.HeaderSize+wire.MaxFrameSize {
		t.Fatalf("error frame of %d bytes", len(long))
	}
}
