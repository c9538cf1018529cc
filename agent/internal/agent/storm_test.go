package agent

import (
	"encoding/json"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"plinth/agent/internal/wire"
)

// 10,000 random and garbled frames at a running agent: afterwards it still answers a
// hello (with padding, as a client that lost track would send it), runs requests, and
// holds no more memory, goroutines or requests than before.
func TestStormOfGarbledFrames(t *testing.T) {
	ta, p := startAgent(t)
	p.mu.Lock()
	p.credit = false // never grant: requests with output block on credit, as they may
	p.mu.Unlock()
	p.hello(1, "start")
	runtime.GC()
	goroutinesBefore := runtime.NumGoroutine()

	file := filepath.Join(ta.dir, "small")
	os.WriteFile(file, []byte(strings.Repeat("data ", 1000)), 0o644)
	req := func(id uint32, body string) []byte { return wire.Frame(wire.Request, 0, id, []byte(body)) }
	templates := [][]byte{
		req(1000, `{"op":"ping"}`),
		req(1001, `{"op":"info"}`),
		req(1002, `{"op":"file.stat","path":"`+ta.dir+`"}`),
		req(1003, `{"op":"file.list","path":"`+ta.dir+`"}`),
		req(1004, `{"op":"file.read","path":"`+file+`"}`),
		req(1005, `{"op":"exec","argv":["/bin/true"]}`),
		req(1006, `{"op":"exec","argv":["/bin/cat"],"stdin":true}`),
		req(1007, `{"op":"exec.resize","id":1006,"rows":5,"cols":5}`),
		req(1008, `{"op":"hello","protocol":{"major":1,"minor":0},"nonce":"storm"}`),
		wire.Frame(wire.Data, wire.ChanStdin, 1006, []byte("stdin bytes")),
		wire.Frame(wire.End, wire.ChanStdin, 1006, nil),
		wire.Frame(wire.Credit, wire.ChanStdout, 1004, []byte{0, 0, 1, 0}),
		wire.Frame(wire.Cancel, 0, 1006, nil),
		wire.Frame(wire.Cancel, 0, 1006, []byte(`{"signal":"SIGTERM"}`)),
	}
	rng := rand.New(rand.NewSource(42))
	randomFrame := func() []byte {
		payload := make([]byte, rng.Intn(300))
		rng.Read(payload)
		if rng.Intn(3) == 0 {
			payload, _ = json.Marshal(map[string]interface{}{"op": []string{"ping", "exec", "file.read", "x"}[rng.Intn(4)],
				"path": rng.Intn(5), "argv": rng.Intn(3) == 0, "id": rng.Uint32()})
		}
		return wire.Frame(uint8(rng.Intn(10)), uint8(rng.Intn(6)), uint32(rng.Intn(64)), payload)
	}
	var buf []byte
	flush := func() {
		p.send(buf)
		buf = buf[:0]
	}
	for i := 0; i < 10000; i++ {
		var f []byte
		switch k := rng.Intn(100); {
		case k < 35: // a template, ids varied
			f = append([]byte(nil), templates[rng.Intn(len(templates))]...)
			f[7] = byte(rng.Intn(8))
			wire.PutHeader(f, wire.Header{Type: f[2], Channel: f[3], ID: 1000 + uint32(f[7]), Length: uint32(len(f) - wire.HeaderSize)})
		case k < 65: // a template with bit flips anywhere (header flips break the CRC)
			f = append([]byte(nil), templates[rng.Intn(len(templates))]...)
			for n := 1 + rng.Intn(3); n > 0; n-- {
				at := rng.Intn(len(f))
				f[at] ^= 1 << uint(rng.Intn(8))
			}
		case k < 85: // a valid header of any type with a random payload
			f = randomFrame()
		case k < 95: // garbage
			f = make([]byte, rng.Intn(2000))
			rng.Read(f)
		case k < 98: // truncated: a header promising more than follows
			f = randomFrame()
			f = f[:wire.HeaderSize+rng.Intn(len(f)-wire.HeaderSize+1)]
		default: // oversized, its payload following
			n := wire.MaxFrameSize + 1 + rng.Intn(1000)
			f = make([]byte, wire.HeaderSize+n)
			wire.PutHeader(f, wire.Header{Type: wire.Request, ID: uint32(rng.Intn(64)), Length: uint32(n)})
		}
		buf = append(buf, f...)
		if len(buf) > 256<<10 {
			flush()
		}
	}
	flush()

	// The client's recovery: padding that completes any partial frame, then hello.
	p.send(make([]byte, wire.HeaderSize+wire.MaxFrameSize))
	nonce := "after-the-storm"
	p.request(5000, map[string]interface{}{"op": "hello", "protocol": ourProtocol, "nonce": nonce, "pad": true})
	for {
		ev := p.next(func(ev wire.Event) bool { return ev.ID == 5000 }, 30*time.Second)
		if body(ev)["nonce"] == nonce {
			if ev.Type != wire.Response {
				t.Fatalf("hello after the storm: %v", body(ev))
			}
			break
		}
	}
	p.mu.Lock()
	p.credit = true
	p.mu.Unlock()
	p.request(5001, map[string]interface{}{"op": "exec", "argv": []string{"echo", "alive"}})
	if out, reply := p.output(5001, wire.ChanStdout); string(out) != "alive\n" || body(reply)["exitCode"] != 0.0 {
		t.Fatalf("exec after the storm: %q %v", out, body(reply))
	}
	if n := ta.Requests(); n != 0 {
		t.Fatalf("%d requests left running", n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		g := runtime.NumGoroutine()
		if g <= goroutinesBefore+2 && ms.HeapInuse < 64<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines %d (before %d), heap in use %d", g, goroutinesBefore, ms.HeapInuse)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
