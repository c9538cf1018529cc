package agent

import (
	"testing"

	"plinth/agent/internal/wire"
)

// FuzzParseRequest: any REQUEST payload is either an operation the agent serves with
// well-formed arguments, or an error whose ERROR frame can be sent; never a panic.
func FuzzParseRequest(f *testing.F) {
	for _, seed := range []string{
		`{"op":"ping"}`,
		`{"op":"hello","protocol":{"major":1,"minor":1},"nonce":"n","pad":true}`,
		`{"op":"exec","argv":["ls","-l"],"env":{"A":"1"},"cwd":"/tmp","user":"nobody","timeoutMs":5}`,
		`{"op":"exec","command":"echo hi","shell":"/bin/bash","pty":{"rows":24,"cols":80},"stdin":true}`,
		`{"op":"exec.resize","id":3,"rows":50,"cols":132}`,
		`{"op":"file.write","path":"/a/b","mode":420,"owner":"root:root","mkdirs":true}`,
		`{"op":"file.read","path":"/etc/hostname","offset":1,"length":2}`,
		`{"op":"file.mkdir","path":"/x","recursive":true,"mode":493}`,
		`{"op":"shutdown","action":"halt"}`,
		`[]`, `null`, `{"op":1}`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		op, err := ParseRequest(payload)
		if err != nil {
			frame := errorFrame(1, errorPayload(err))
			if len(frame) > wire.HeaderSize+wire.MaxFrameSize {
				t.Fatalf("error frame of %d bytes", len(frame))
			}
			return
		}
		if op != "hello" && ops[op] == nil {
			t.Fatalf("accepted unknown op %q", op)
		}
		if _, ok := ParseCancel(payload); !ok && len(payload) == 0 {
			t.Fatal("empty CANCEL refused")
		}
	})
}
