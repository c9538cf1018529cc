// Package wire is the frame layer of the plinth agent protocol (docs/agent-protocol.md):
// the 16-byte header with its CRC, the frame types and channels, and a decoder that
// turns any byte stream into frames without ever failing on what it reads.
package wire

import (
	"encoding/binary"
	"hash/crc32"
)

// Protocol version, checked at hello. A different major is refused; a newer minor only
// adds operations, which the agent lists in its capabilities.
const (
	ProtocolMajor = 1
	ProtocolMinor = 2
)

const (
	Magic0 = 0xF7
	Magic1 = 0x50
	// HeaderSize is magic(2) type(1) channel(1) id(4) length(4) crc32-of-bytes-0-11(4).
	HeaderSize = 16
	// MaxFrameSize is the largest payload either side accepts.
	MaxFrameSize = 1024 * 1024
	// DataChunkSize is the largest DATA payload a sender puts in one frame.
	DataChunkSize = 64 * 1024
	// InitialWindow is the credit of every stream in each direction; receivers grant
	// in steps of a quarter of it.
	InitialWindow = 2048 * 1024
	// ListBatch is the number of directory entries per DATA write of file.list.
	ListBatch = 256
)

// Frame types.
const (
	Request  = 0x01
	Response = 0x02
	Error    = 0x03
	Data     = 0x04
	End      = 0x05
	Credit   = 0x06
	Cancel   = 0x07
)

// Channels.
const (
	ChanNone   = 0
	ChanStdin  = 1
	ChanStdout = 2
	ChanStderr = 3
	ChanData   = 4
)

// SessionID is never a request: ERROR frames with it are session notices.
const SessionID = 0

// Header is a decoded frame header.
type Header struct {
	Type    uint8
	Channel uint8
	ID      uint32
	Length  uint32
}

// PutHeader writes the header for h into b[:HeaderSize].
func PutHeader(b []byte, h Header) {
	_ = b[HeaderSize-1]
	b[0] = Magic0
	b[1] = Magic1
	b[2] = h.Type
	b[3] = h.Channel
	binary.BigEndian.PutUint32(b[4:], h.ID)
	binary.BigEndian.PutUint32(b[8:], h.Length)
	binary.BigEndian.PutUint32(b[12:], crc32.ChecksumIEEE(b[:12]))
}

// DecodeHeader parses b[:HeaderSize]; ok is false when the magic or the CRC does not match.
func DecodeHeader(b []byte) (h Header, ok bool) {
	if len(b) < HeaderSize || b[0] != Magic0 || b[1] != Magic1 {
		return h, false
	}
	if crc32.ChecksumIEEE(b[:12]) != binary.BigEndian.Uint32(b[12:]) {
		return h, false
	}
	return Header{
		Type:    b[2],
		Channel: b[3],
		ID:      binary.BigEndian.Uint32(b[4:]),
		Length:  binary.BigEndian.Uint32(b[8:]),
	}, true
}

// AppendFrame appends a whole frame (header and payload) to dst.
func AppendFrame(dst []byte, typ, channel uint8, id uint32, payload []byte) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, HeaderSize)...)
	PutHeader(dst[n:], Header{Type: typ, Channel: channel, ID: id, Length: uint32(len(payload))})
	return append(dst, payload...)
}

// Frame returns a new buffer holding one frame.
func Frame(typ, channel uint8, id uint32, payload []byte) []byte {
	return AppendFrame(make([]byte, 0, HeaderSize+len(payload)), typ, channel, id, payload)
}

// CreditFrame grants bytes more on channel of request id.
func CreditFrame(id uint32, channel uint8, bytes uint32) []byte {
	var p [4]byte
	binary.BigEndian.PutUint32(p[:], bytes)
	return Frame(Credit, channel, id, p[:])
}
