package agent

import (
	"bytes"
	"testing"
	"time"

	"plinth/agent/internal/wire"
)

// A program that closes the terminal before it exits (coreutils cat does) still exits
// normally: the agent keeps the master open until the exit.
func TestPtyProgramThatClosesItsTerminal(t *testing.T) {
	_, p := startAgent(t)
	p.hello(1, "x")
	for i := uint32(0); i < 100; i++ {
		id := 10 + i
		p.request(id, map[string]interface{}{"op": "exec", "argv": []string{"cat"}, "pty": map[string]int{}})
		p.send(wire.Frame(wire.Data, wire.ChanStdin, id, []byte("typed\n")))
		var seen []byte
		for !bytes.Contains(seen, []byte("typed\r\ntyped\r\n")) {
			ev := p.next(func(ev wire.Event) bool { return ev.ID == id }, 5*time.Second)
			if ev.Type != wire.Data {
				t.Fatalf("%d: ended early %q %v", i, seen, body(ev))
			}
			seen = append(seen, ev.Payload...)
		}
		p.send(wire.Frame(wire.End, wire.ChanStdin, id, nil))
		if b := body(p.reply(id)); b["exitCode"] != 0.0 {
			t.Fatalf("%d: %v", i, b)
		}
	}
}
