package wire

import (
	"bufio"
	"bytes"
	"io"
)

// Event is what the decoder found next: a frame, or the header of a frame whose payload
// exceeds the limit (Oversize; its payload is discarded as it arrives, never buffered).
type Event struct {
	Header
	Payload  []byte
	Oversize bool
	// Skipped counts the non-zero bytes that belonged to no frame before this one's
	// header (resync). Zero bytes between frames are padding and are not counted.
	Skipped int
}

// Decoder reads frames from a byte stream. It never fails on content: bytes that do not
// start a header whose magic and CRC check out are skipped one at a time until one does.
// Its memory is the bufio buffer plus one payload of at most the frame limit.
type Decoder struct {
	r       *bufio.Reader
	max     uint32
	garbage int
	// Payload bytes of an oversized frame still to discard.
	skip uint32
}

// NewDecoder decodes from r; payloads over max bytes are reported, not read.
func NewDecoder(r *bufio.Reader, max uint32) *Decoder {
	return &Decoder{r: r, max: max}
}

func countNonZero(b []byte) int {
	n := 0
	for _, c := range b {
		if c != 0 {
			n++
		}
	}
	return n
}

// Next returns the next event. The only errors are those of the underlying reader
// (io.EOF at a frame boundary, io.ErrUnexpectedEOF inside a frame, or a read error).
func (d *Decoder) Next() (Event, error) {
	for d.skip > 0 {
		n := d.skip
		if n > 1<<20 {
			n = 1 << 20
		}
		m, err := d.r.Discard(int(n))
		d.skip -= uint32(m)
		if err != nil {
			return Event{}, unexpected(err)
		}
	}
	for {
		if d.r.Buffered() == 0 {
			if _, err := d.r.Peek(1); err != nil {
				return Event{}, err
			}
		}
		buf, _ := d.r.Peek(d.r.Buffered())
		i := bytes.IndexByte(buf, Magic0)
		if i < 0 {
			d.garbage += countNonZero(buf)
			_, _ = d.r.Discard(len(buf))
			continue
		}
		if i > 0 {
			d.garbage += countNonZero(buf[:i])
			_, _ = d.r.Discard(i)
		}
		hdr, err := d.r.Peek(HeaderSize)
		if err != nil {
			if len(hdr) > 0 {
				return Event{}, unexpected(err)
			}
			return Event{}, err
		}
		h, ok := DecodeHeader(hdr)
		if !ok {
			d.garbage++
			_, _ = d.r.Discard(1)
			continue
		}
		_, _ = d.r.Discard(HeaderSize)
		ev := Event{Header: h, Skipped: d.garbage}
		d.garbage = 0
		if h.Length > d.max {
			ev.Oversize = true
			d.skip = h.Length
			return ev, nil
		}
		ev.Payload = make([]byte, h.Length)
		if _, err := io.ReadFull(d.r, ev.Payload); err != nil {
			return Event{}, unexpected(err)
		}
		return ev, nil
	}
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
