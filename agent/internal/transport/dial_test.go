package transport

import (
	"os"
	"syscall"
	"testing"
	"unsafe"
)

func dialUnix(t *testing.T, path string) *os.File {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Connect(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	return os.NewFile(uintptr(fd), "client")
}

// dialVsock connects to cid:port (raw sockaddr_vm, as the listener binds it).
func dialVsock(cid, port uint32) (*os.File, error) {
	fd, err := syscall.Socket(afVsock, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	// SO_VM_SOCKETS_CONNECT_TIMEOUT: without a transport, connect waits 2 s by default.
	_ = syscall.SetsockoptTimeval(fd, afVsock, 6, &syscall.Timeval{Usec: 200000})
	sa := sockaddrVM{Family: afVsock, Port: port, CID: cid}
	if _, _, e := syscall.Syscall(syscall.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa)); e != 0 {
		syscall.Close(fd)
		return nil, e
	}
	return os.NewFile(uintptr(fd), "vsock client"), nil
}
