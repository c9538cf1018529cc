package agent

import (
	"encoding/base64"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// identity (protocol 1.2) gives a restored or forked guest what must not be shared with
// the VM its memory came from: fresh randomness, the host's clock, its own hostname.
type identityParams struct {
	hostname string
	entropy  []byte
	timeMs   int64
	hasTime  bool
}

// validHostname: 1-63 letters, digits, dots and dashes, starting with a letter or digit
// (no regexp: that package alone would add a tenth to the agent's size).
func validHostname(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Linux random(4) ioctls: add entropy (credited), then reseed the CRNG from it at once,
// so the next read of /dev/urandom differs from every other fork of the same memory.
const (
	rndAddEntropy  = 0x40085203 // _IOW('R', 0x03, int[2])
	rndReseedCrng  = 0x5207     // _IO('R', 0x07)
	maxEntropySize = 512
)

func parseIdentity(a args) (interface{}, error) {
	var p identityParams
	name, ok, err := a.optStr("hostname")
	if err != nil {
		return nil, err
	}
	if ok && !validHostname(name) {
		return nil, badRequest(`"hostname" must be 1-63 letters, digits, dots or dashes`)
	}
	p.hostname = name
	enc, ok, err := a.optStr("entropy")
	if err != nil {
		return nil, err
	}
	if ok {
		if p.entropy, err = base64.StdEncoding.DecodeString(enc); err != nil || len(p.entropy) == 0 || len(p.entropy) > maxEntropySize {
			return nil, badRequest(`"entropy" must be base64 of 1 to 512 bytes`)
		}
	}
	// Up to the year 2286: milliseconds that still fit in int64 nanoseconds.
	p.timeMs, p.hasTime, err = a.optInt("timeMs", 0, 1e13)
	if err != nil {
		return nil, err
	}
	return p, nil
}

func runIdentity(_ *Agent, _ *request, params interface{}) (interface{}, error) {
	p := params.(identityParams)
	out := map[string]interface{}{}
	if p.hasTime {
		tv := syscall.NsecToTimeval(p.timeMs * int64(time.Millisecond))
		if err := syscall.Settimeofday(&tv); err != nil {
			return nil, &os.SyscallError{Syscall: "settimeofday", Err: err}
		}
		out["timeMs"] = time.Now().UnixMilli()
	}
	if len(p.entropy) > 0 {
		if err := reseed(p.entropy); err != nil {
			return nil, err
		}
		out["reseeded"] = true
	}
	if p.hostname != "" {
		if err := syscall.Sethostname([]byte(p.hostname)); err != nil {
			return nil, &os.SyscallError{Syscall: "sethostname", Err: err}
		}
		// Best effort: a read-only or missing /etc keeps the kernel's name only.
		_ = writeFileAtomic("/etc/hostname", []byte(p.hostname+"\n"))
		out["hostname"] = p.hostname
	}
	return out, nil
}

func reseed(entropy []byte) error {
	f, err := os.OpenFile("/dev/urandom", os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	// struct rand_pool_info { int entropy_count; int buf_size; __u32 buf[]; }
	buf := make([]byte, 8+len(entropy))
	*(*int32)(unsafe.Pointer(&buf[0])) = int32(len(entropy) * 8)
	*(*int32)(unsafe.Pointer(&buf[4])) = int32(len(entropy))
	copy(buf[8:], entropy)
	if err := ioctl(f.Fd(), rndAddEntropy, uintptr(unsafe.Pointer(&buf[0]))); err != nil {
		return &os.SyscallError{Syscall: "ioctl RNDADDENTROPY", Err: err}
	}
	if err := ioctl(f.Fd(), rndReseedCrng, 0); err != nil {
		return &os.SyscallError{Syscall: "ioctl RNDRESEEDCRNG", Err: err}
	}
	return nil
}

func writeFileAtomic(file string, data []byte) error {
	tmp := file + ".plinth-tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, file); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
