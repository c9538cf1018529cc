package agent

import (
	"os"
	"strconv"
	"syscall"
	"unsafe"
)

// TIOCGPTPEER is _IO('T', 0x41), the same on amd64 and arm64.
const tiocgptpeer = 0x5441

type winsize struct {
	Row, Col, Xpixel, Ypixel uint16
}

func ioctl(fd, req, arg uintptr) error {
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, req, arg); e != 0 {
		return e
	}
	return nil
}

// control runs fn on f's fd without switching it to blocking mode (as Fd would).
func control(f *os.File, fn func(fd uintptr) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var inner error
	if err := rc.Control(func(fd uintptr) { inner = fn(fd) }); err != nil {
		return err
	}
	return inner
}

// openPty allocates a pseudo-terminal: the master (kept by the agent) and the slave
// (the child's stdio and controlling terminal), with the given window size.
func openPty(rows, cols uint16) (master, slave *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	var n uint32
	peer := -1
	err = control(master, func(fd uintptr) error {
		var unlock int32
		if err := ioctl(fd, syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); err != nil {
			return os.NewSyscallError("ioctl TIOCSPTLCK", err)
		}
		if err := ioctl(fd, syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); err != nil {
			return os.NewSyscallError("ioctl TIOCGPTN", err)
		}
		ws := winsize{Row: rows, Col: cols}
		if err := ioctl(fd, syscall.TIOCSWINSZ, uintptr(unsafe.Pointer(&ws))); err != nil {
			return os.NewSyscallError("ioctl TIOCSWINSZ", err)
		}
		// The slave of this very master (Linux 4.13+): a path lookup could race with the
		// release of an earlier pty of the same number.
		r, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, tiocgptpeer, syscall.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC)
		if e == 0 {
			peer = int(r)
		}
		return nil
	})
	if err == nil {
		if peer >= 0 {
			slave = os.NewFile(uintptr(peer), "/dev/pts/"+strconv.Itoa(int(n)))
		} else {
			slave, err = os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
		}
	}
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	return master, slave, nil
}

// setWinsize sets the window size of the terminal of master; the kernel then sends
// SIGWINCH to its foreground process group.
func setWinsize(master *os.File, rows, cols uint16) error {
	return control(master, func(fd uintptr) error {
		ws := winsize{Row: rows, Col: cols}
		return os.NewSyscallError("ioctl TIOCSWINSZ", ioctl(fd, syscall.TIOCSWINSZ, uintptr(unsafe.Pointer(&ws))))
	})
}

// eofChar is what ends the input of a terminal in canonical mode (VEOF, usually ^D),
// or 0 when the terminal is in raw mode (then there is no way to say end of input).
func eofChar(master *os.File) byte {
	var t syscall.Termios
	err := control(master, func(fd uintptr) error {
		return ioctl(fd, syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
	})
	if err != nil || t.Lflag&syscall.ICANON == 0 {
		return 0
	}
	return t.Cc[syscall.VEOF]
}
