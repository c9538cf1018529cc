package transport

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestResolvePortPath(t *testing.T) {
	sys := t.TempDir()
	for entry, name := range map[string]string{"vport0p1": "org.qemu.guest_agent.0", "vport0p2": "org.plinth.agent.0"} {
		dir := filepath.Join(sys, "class", "virtio-ports", entry)
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "name"), []byte(name+"\n"), 0o644)
	}
	if got := ResolvePortPath(DefaultPort, sys, "/devx"); got != "/devx/vport0p2" {
		t.Fatal(got)
	}
	if got := ResolvePortPath("/dev/virtio-ports/other", sys, "/devx"); got != "/dev/virtio-ports/other" {
		t.Fatal(got)
	}
	if got := ResolvePortPath("/dev/null", sys, "/devx"); got != "/dev/null" {
		t.Fatal(got)
	}
}

// /dev/null reads EOF at once, like a virtio port without a host connected: the port is
// reopened again and again, with the delay capped, not in a busy loop.
func TestVirtioReopensWithBackoff(t *testing.T) {
	stop := make(chan struct{})
	var opened int32
	time.AfterFunc(400*time.Millisecond, func() { close(stop) })
	ServeVirtio(VirtioOptions{Path: "/dev/null", MinRetry: 5 * time.Millisecond, MaxRetry: 40 * time.Millisecond, Stop: stop},
		func(rw io.ReadWriteCloser) {
			atomic.AddInt32(&opened, 1)
			io.Copy(io.Discard, rw)
			rw.Close()
		})
	if n := atomic.LoadInt32(&opened); n <= 5 || n >= 60 {
		t.Fatalf("opened %d times", n)
	}
}

func TestVirtioRetriesAMissingPortLoggingOnce(t *testing.T) {
	stop := make(chan struct{})
	time.AfterFunc(200*time.Millisecond, func() { close(stop) })
	var mu sync.Mutex
	var logs []string
	ServeVirtio(VirtioOptions{Path: filepath.Join(t.TempDir(), "no-port"), MinRetry: 5 * time.Millisecond,
		MaxRetry: 10 * time.Millisecond, Stop: stop, Log: func(m string) {
			mu.Lock()
			logs = append(logs, m)
			mu.Unlock()
		}}, func(io.ReadWriteCloser) { t.Error("served a missing port") })
	if len(logs) != 1 || !strings.Contains(logs[0], "no-port") || !strings.Contains(logs[0], "retrying") {
		t.Fatalf("%q", logs)
	}
}

func TestUnixListener(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	l, err := ListenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	// A stale socket file from an earlier run is replaced.
	l, err = ListenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan *os.File)
	go func() {
		f, err := l.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- f
	}()
	c := dialUnix(t, path)
	defer c.Close()
	s := <-accepted
	defer s.Close()
	c.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("%q %v", buf, err)
	}
	// Closing the server side interrupts its blocked read.
	done := make(chan error)
	go func() {
		_, err := s.Read(buf)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	s.Close()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("close did not interrupt the read")
	}
	// And closing the listener interrupts Accept.
	go func() {
		time.Sleep(20 * time.Millisecond)
		l.Close()
	}()
	if _, err := l.Accept(); err == nil {
		t.Fatal("accept after close")
	}
}

// There is no host side of vsock here (no vhost-vsock), but where the kernel has the
// loopback transport (CID 1) a connection can be made inside the machine.
func TestVsockListener(t *testing.T) {
	l, err := ListenVsock(52000)
	if err != nil {
		t.Skip("no AF_VSOCK here:", err)
	}
	defer l.Close()
	accepted := make(chan *os.File, 1)
	go func() {
		f, err := l.Accept()
		if err == nil {
			accepted <- f
		}
	}()
	c, err := dialVsock(1, 52000)
	if err != nil {
		t.Skip("no vsock loopback transport here:", err)
	}
	defer c.Close()
	s := <-accepted
	defer s.Close()
	c.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("%q %v", buf, err)
	}
}
