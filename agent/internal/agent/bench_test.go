package agent

import (
	"testing"
	"time"

	"plinth/agent/internal/wire"
)

// BenchmarkExecStdout: bytes/s of a process's stdout through the agent to a host that
// reads and grants credit at once.
func BenchmarkExecStdout(b *testing.B) {
	_, p := startAgent(b)
	p.hello(1, "x")
	const size = 64 << 20
	b.SetBytes(size)
	for i := 0; i < b.N; i++ {
		id := uint32(10 + i)
		p.request(id, map[string]interface{}{"op": "exec", "command": "head -c 67108864 /dev/zero"})
		got := 0
		for {
			ev := p.next(func(ev wire.Event) bool { return ev.ID == id }, 30*time.Second)
			if ev.Type != wire.Data {
				break
			}
			got += len(ev.Payload)
		}
		if got != size {
			b.Fatalf("got %d bytes", got)
		}
	}
}

// BenchmarkPing: round trips of ping.
func BenchmarkPing(b *testing.B) {
	_, p := startAgent(b)
	p.hello(1, "x")
	for i := 0; i < b.N; i++ {
		id := uint32(10 + i)
		p.request(id, map[string]interface{}{"op": "ping"})
		p.reply(id)
	}
}

// BenchmarkExecTrue: round trips of exec true.
func BenchmarkExecTrue(b *testing.B) {
	_, p := startAgent(b)
	p.hello(1, "x")
	for i := 0; i < b.N; i++ {
		id := uint32(10 + i)
		p.request(id, map[string]interface{}{"op": "exec", "argv": []string{"/bin/true"}})
		p.reply(id)
	}
}
