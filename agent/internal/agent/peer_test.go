package agent

import (
	"bufio"
	"encoding/json"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"plinth/agent/internal/wire"
)

// peer is a minimal host side for tests: it writes frames by hand and collects what
// the agent sends.
type peer struct {
	t       testing.TB
	f       *os.File
	mu      sync.Mutex
	frames  []wire.Event
	wake    chan struct{}
	closed  bool
	garbage int
	// credit: grant stdout/stderr/data credit for every DATA frame received.
	credit bool
	wmu    sync.Mutex
}

func socketPair(t testing.TB) (*os.File, *os.File) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC|syscall.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	return os.NewFile(uintptr(fds[0]), "agent end"), os.NewFile(uintptr(fds[1]), "host end")
}

type testAgent struct {
	*Agent
	powerOffs chan string
	done      chan struct{}
	dir       string
}

// startAgent serves one connection of a new agent; the peer is the host's end.
func startAgent(t testing.TB) (*testAgent, *peer) {
	a := New("9.9.9-test")
	powerOffs := make(chan string, 10)
	a.PowerOff = func(action string) { powerOffs <- action }
	var logMu sync.Mutex
	a.Log = func(m string) {
		logMu.Lock()
		defer logMu.Unlock()
		if len(m) >= 14 && m[:14] == "internal error" {
			t.Errorf("agent: %s", m)
		}
	}
	agentEnd, hostEnd := socketPair(t)
	ta := &testAgent{Agent: a, powerOffs: powerOffs, done: make(chan struct{}), dir: t.TempDir()}
	go func() {
		a.Serve(agentEnd)
		close(ta.done)
	}()
	p := &peer{t: t, f: hostEnd, wake: make(chan struct{}, 1), credit: true}
	go p.readLoop()
	t.Cleanup(func() {
		hostEnd.Close()
		select {
		case <-ta.done:
		case <-time.After(10 * time.Second):
			t.Error("the agent did not end its session")
		}
	})
	return ta, p
}

func (p *peer) readLoop() {
	d := wire.NewDecoder(bufio.NewReaderSize(p.f, 64<<10), wire.MaxFrameSize)
	for {
		ev, err := d.Next()
		if err != nil {
			p.mu.Lock()
			p.closed = true
			p.mu.Unlock()
			p.notify()
			return
		}
		p.mu.Lock()
		p.garbage += ev.Skipped
		p.frames = append(p.frames, ev)
		credit := p.credit
		p.mu.Unlock()
		if credit && ev.Type == wire.Data {
			p.send(wire.CreditFrame(ev.ID, ev.Channel, uint32(len(ev.Payload))))
		}
		p.notify()
	}
}

func (p *peer) notify() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *peer) send(b []byte) {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if _, err := p.f.Write(b); err != nil {
		p.t.Logf("peer write: %v", err)
	}
}

func (p *peer) request(id uint32, body interface{}) {
	b, err := json.Marshal(body)
	if err != nil {
		p.t.Fatal(err)
	}
	p.send(wire.Frame(wire.Request, 0, id, b))
}

// next waits for the first frame matching match and takes it.
func (p *peer) next(match func(wire.Event) bool, timeout time.Duration) wire.Event {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p.mu.Lock()
		for i, ev := range p.frames {
			if match(ev) {
				p.frames = append(p.frames[:i:i], p.frames[i+1:]...)
				p.mu.Unlock()
				return ev
			}
		}
		closed := p.closed
		p.mu.Unlock()
		left := time.Until(deadline)
		if closed || left <= 0 {
			p.t.Fatalf("no matching frame (closed: %v)", closed)
		}
		select {
		case <-p.wake:
		case <-time.After(left):
		}
	}
}

func (p *peer) reply(id uint32) wire.Event {
	p.t.Helper()
	return p.next(func(ev wire.Event) bool {
		return ev.ID == id && (ev.Type == wire.Response || ev.Type == wire.Error)
	}, 10*time.Second)
}

// output collects the DATA of request id on channel up to its reply.
func (p *peer) output(id uint32, channel uint8) ([]byte, wire.Event) {
	p.t.Helper()
	var out []byte
	for {
		ev := p.next(func(ev wire.Event) bool { return ev.ID == id }, 10*time.Second)
		if ev.Type == wire.Data {
			if ev.Channel == channel {
				out = append(out, ev.Payload...)
			}
			continue
		}
		return out, ev
	}
}

func body(ev wire.Event) map[string]interface{} {
	var m map[string]interface{}
	_ = json.Unmarshal(ev.Payload, &m)
	return m
}

func (p *peer) hello(id uint32, nonce string) map[string]interface{} {
	p.t.Helper()
	p.request(id, map[string]interface{}{"op": "hello", "protocol": ourProtocol, "nonce": nonce})
	for {
		ev := p.reply(id)
		b := body(ev)
		if b["nonce"] == nonce {
			if ev.Type != wire.Response {
				p.t.Fatalf("hello: %v", b)
			}
			return b
		}
	}
}
