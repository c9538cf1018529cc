package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"math/rand"
	"testing"
	"testing/iotest"
)

func frame(id uint32, payload []byte) []byte { return Frame(Data, ChanStdout, id, payload) }

func decodeAll(t testing.TB, r io.Reader, bufSize int, max uint32) ([]Event, error) {
	d := NewDecoder(bufio.NewReaderSize(r, bufSize), max)
	var out []Event
	for {
		ev, err := d.Next()
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return out, err
		}
		out = append(out, ev)
		if len(out) > 1<<20 {
			t.Fatal("runaway decoder")
		}
	}
}

func TestCRCAndLayout(t *testing.T) {
	if got := crc32.ChecksumIEEE([]byte("123456789")); got != 0xcbf43926 {
		t.Fatalf("crc %x", got)
	}
	f := Frame(Request, 7, 0x01020304, []byte("hi"))
	want := []byte{0xf7, 0x50, 1, 7, 1, 2, 3, 4, 0, 0, 0, 2}
	if !bytes.Equal(f[:12], want) {
		t.Fatalf("header %x", f[:12])
	}
	if binary.BigEndian.Uint32(f[12:]) != crc32.ChecksumIEEE(f[:12]) || string(f[16:]) != "hi" {
		t.Fatalf("frame %x", f)
	}
	h, ok := DecodeHeader(f)
	if !ok || h != (Header{Request, 7, 0x01020304, 2}) {
		t.Fatalf("decoded %+v %v", h, ok)
	}
}

func TestDecodesWhateverTheChunking(t *testing.T) {
	var stream []byte
	var payloads [][]byte
	for i := 0; i < 50; i++ {
		p := make([]byte, i*37)
		rand.Read(p)
		payloads = append(payloads, p)
		stream = append(stream, frame(uint32(i+1), p)...)
	}
	for _, r := range []io.Reader{bytes.NewReader(stream), iotest.OneByteReader(bytes.NewReader(stream)),
		iotest.HalfReader(bytes.NewReader(stream))} {
		evs, err := decodeAll(t, r, 16, MaxFrameSize)
		if err != nil || len(evs) != 50 {
			t.Fatalf("%d events, %v", len(evs), err)
		}
		for i, ev := range evs {
			if ev.ID != uint32(i+1) || !bytes.Equal(ev.Payload, payloads[i]) || ev.Skipped != 0 {
				t.Fatalf("event %d: %+v", i, ev.Header)
			}
		}
	}
}

func TestSkipsGarbageAndCountsIt(t *testing.T) {
	junk := []byte("\xf7\x50 console noise \xf7\xf7\x50")
	stream := bytes.Join([][]byte{junk, frame(1, []byte("a")), junk, frame(2, []byte("b"))}, nil)
	evs, _ := decodeAll(t, bytes.NewReader(stream), 4096, MaxFrameSize)
	if len(evs) != 2 || string(evs[0].Payload) != "a" || string(evs[1].Payload) != "b" {
		t.Fatalf("%+v", evs)
	}
	if evs[0].Skipped != len(junk) || evs[1].Skipped != len(junk) {
		t.Fatalf("skipped %d %d, want %d", evs[0].Skipped, evs[1].Skipped, len(junk))
	}
}

func TestZeroPaddingIsSilent(t *testing.T) {
	stream := bytes.Join([][]byte{make([]byte, 5000), frame(1, []byte("x")), make([]byte, 3)}, nil)
	evs, err := decodeAll(t, iotest.HalfReader(bytes.NewReader(stream)), 16, MaxFrameSize)
	if err != nil || len(evs) != 1 || evs[0].Skipped != 0 {
		t.Fatalf("%+v %v", evs, err)
	}
}

func TestResyncsAfterCorruptHeader(t *testing.T) {
	bad := frame(1, []byte("lost"))
	bad[6] ^= 0x10
	evs, _ := decodeAll(t, bytes.NewReader(append(bad, frame(2, []byte("kept"))...)), 4096, MaxFrameSize)
	nonZero := 0
	for _, b := range bad {
		if b != 0 {
			nonZero++
		}
	}
	if len(evs) != 1 || evs[0].ID != 2 || evs[0].Skipped != nonZero {
		t.Fatalf("%+v", evs)
	}
}

// An oversized frame is reported at its header, and its payload discarded as it
// streams, never buffered beyond the reader's own buffer.
func TestOversizeIsReportedAndDiscarded(t *testing.T) {
	hdr := make([]byte, HeaderSize)
	PutHeader(hdr, Header{Type: Request, ID: 9, Length: 50_000})
	pr, pw := io.Pipe()
	d := NewDecoder(bufio.NewReaderSize(pr, 1024), 1000)
	go func() {
		pw.Write(hdr)
		for i := 0; i < 50; i++ {
			pw.Write(bytes.Repeat([]byte{0xf7}, 1000))
		}
		pw.Write(frame(10, []byte("next")))
		pw.Close()
	}()
	ev, err := d.Next()
	if err != nil || !ev.Oversize || ev.ID != 9 || ev.Payload != nil {
		t.Fatalf("%+v %v", ev, err)
	}
	ev, err = d.Next()
	if err != nil || ev.ID != 10 || string(ev.Payload) != "next" || ev.Skipped != 0 {
		t.Fatalf("%+v %v", ev, err)
	}
}

func TestRecoversFramesFromRandomGarbage(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for round := 0; round < 100; round++ {
		var stream []byte
		for i := 1; i <= 20; i++ {
			if rng.Intn(2) == 0 {
				g := make([]byte, rng.Intn(500))
				rng.Read(g)
				stream = append(stream, g...)
			}
			p := make([]byte, rng.Intn(2000))
			rng.Read(p)
			stream = append(stream, frame(uint32(i), p)...)
		}
		evs, _ := decodeAll(t, iotest.HalfReader(bytes.NewReader(stream)), 700, MaxFrameSize)
		// Garbage may by chance look like a header whose length swallows a frame; with
		// random bytes and a CRC that is a 1 in 4 billion event per position.
		if len(evs) != 20 {
			t.Fatalf("round %d: %d frames", round, len(evs))
		}
	}
}

func TestEndsCleanlyOrMidFrame(t *testing.T) {
	f := frame(1, []byte("payload"))
	if _, err := decodeAll(t, bytes.NewReader(f[:20]), 16, MaxFrameSize); err != io.ErrUnexpectedEOF {
		t.Fatalf("mid-payload: %v", err)
	}
	if _, err := decodeAll(t, bytes.NewReader(f[:10]), 16, MaxFrameSize); err != io.ErrUnexpectedEOF {
		t.Fatalf("mid-header: %v", err)
	}
}

// FuzzDecoder: whatever the bytes, the decoder neither panics nor misbehaves, finds the
// same frames whatever the chunking, and never returns a payload over the limit.
func FuzzDecoder(f *testing.F) {
	f.Add(frame(1, []byte("hello")))
	f.Add(append([]byte("noise\xf7"), Frame(Request, 0, 3, []byte(`{"op":"ping"}`))...))
	f.Add(make([]byte, 40))
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 4096
		whole, err1 := decodeAll(t, bytes.NewReader(data), 4096, max)
		bytewise, err2 := decodeAll(t, iotest.OneByteReader(bytes.NewReader(data)), 16, max)
		if (err1 == nil) != (err2 == nil) || len(whole) != len(bytewise) {
			t.Fatalf("chunking changed the result: %d/%v vs %d/%v", len(whole), err1, len(bytewise), err2)
		}
		consumed := 0
		for i, ev := range whole {
			b := bytewise[i]
			if ev.Header != b.Header || ev.Oversize != b.Oversize || ev.Skipped != b.Skipped ||
				!bytes.Equal(ev.Payload, b.Payload) {
				t.Fatalf("event %d differs: %+v vs %+v", i, ev, b)
			}
			if ev.Oversize {
				if ev.Length <= max || ev.Payload != nil {
					t.Fatalf("bad oversize event %+v", ev.Header)
				}
			} else if uint32(len(ev.Payload)) != ev.Length || ev.Length > max {
				t.Fatalf("payload of %d for length %d", len(ev.Payload), ev.Length)
			}
			// Re-encoding gives a header that decodes to the same.
			hdr := make([]byte, HeaderSize)
			PutHeader(hdr, ev.Header)
			if h, ok := DecodeHeader(hdr); !ok || h != ev.Header {
				t.Fatalf("re-encoded header %+v", h)
			}
			consumed += ev.Skipped + HeaderSize + len(ev.Payload)
		}
		if consumed > len(data) {
			t.Fatalf("consumed %d of %d bytes", consumed, len(data))
		}
	})
}
