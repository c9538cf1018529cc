package agent

import (
	"errors"
	"os"
	"strconv"
	"syscall"
)

// Error codes the agent produces itself; failed system calls use their errno name.
const (
	codeBadFrame         = "BAD_FRAME"
	codeBadRequest       = "BAD_REQUEST"
	codeFrameTooLarge    = "FRAME_TOO_LARGE"
	codeNoHello          = "NO_HELLO"
	codeProtocolMismatch = "PROTOCOL_MISMATCH"
	codeUnknownOp        = "UNKNOWN_OP"
	codeDuplicateID      = "DUPLICATE_ID"
	codeFlowControl      = "FLOW_CONTROL"
	codeResync           = "RESYNC"
	codeCancelled        = "CANCELLED"
	codeSessionReset     = "SESSION_RESET"
	codeInternal         = "INTERNAL"
	codeUnknownUser      = "UNKNOWN_USER"
	codeUnknownGroup     = "UNKNOWN_GROUP"
	codeNotRunning       = "NOT_RUNNING"
)

// OpError is a failure reported to the host as an ERROR frame with Code.
type OpError struct {
	Code    string
	Message string
	Details map[string]interface{}
}

func (e *OpError) Error() string { return e.Code + ": " + e.Message }

func opError(code, message string) *OpError { return &OpError{Code: code, Message: message} }

func badRequest(message string) *OpError { return opError(codeBadRequest, message) }

var errnoNames = map[syscall.Errno]string{
	syscall.EPERM: "EPERM", syscall.ENOENT: "ENOENT", syscall.ESRCH: "ESRCH",
	syscall.EINTR: "EINTR", syscall.EIO: "EIO", syscall.ENXIO: "ENXIO",
	syscall.E2BIG: "E2BIG", syscall.ENOEXEC: "ENOEXEC", syscall.EBADF: "EBADF",
	syscall.ECHILD: "ECHILD", syscall.EAGAIN: "EAGAIN", syscall.ENOMEM: "ENOMEM",
	syscall.EACCES: "EACCES", syscall.EFAULT: "EFAULT", syscall.EBUSY: "EBUSY",
	syscall.EEXIST: "EEXIST", syscall.EXDEV: "EXDEV", syscall.ENODEV: "ENODEV",
	syscall.ENOTDIR: "ENOTDIR", syscall.EISDIR: "EISDIR", syscall.EINVAL: "EINVAL",
	syscall.ENFILE: "ENFILE", syscall.EMFILE: "EMFILE", syscall.ENOTTY: "ENOTTY",
	syscall.ETXTBSY: "ETXTBSY", syscall.EFBIG: "EFBIG", syscall.ENOSPC: "ENOSPC",
	syscall.ESPIPE: "ESPIPE", syscall.EROFS: "EROFS", syscall.EMLINK: "EMLINK",
	syscall.EPIPE: "EPIPE", syscall.ERANGE: "ERANGE", syscall.EDEADLK: "EDEADLK",
	syscall.ENAMETOOLONG: "ENAMETOOLONG", syscall.ENOSYS: "ENOSYS",
	syscall.ENOTEMPTY: "ENOTEMPTY", syscall.ELOOP: "ELOOP", syscall.ENODATA: "ENODATA",
	syscall.EOVERFLOW: "EOVERFLOW", syscall.EOPNOTSUPP: "ENOTSUP",
	syscall.ENOTSOCK: "ENOTSOCK", syscall.EADDRINUSE: "EADDRINUSE",
	syscall.ECONNRESET: "ECONNRESET", syscall.ECONNREFUSED: "ECONNREFUSED",
	syscall.ETIMEDOUT: "ETIMEDOUT", syscall.ENOTCONN: "ENOTCONN", syscall.EDQUOT: "EDQUOT",
	syscall.ESTALE: "ESTALE", syscall.ECANCELED: "ECANCELED", syscall.EILSEQ: "EILSEQ",
	syscall.ENOLCK: "ENOLCK", syscall.ELIBBAD: "ELIBBAD", syscall.ENOMEDIUM: "ENOMEDIUM",
}

// ErrnoName is the symbolic name of an errno ("ENOENT"), as Node and libc spell them.
func ErrnoName(e syscall.Errno) string {
	if name, ok := errnoNames[e]; ok {
		return name
	}
	return "E" + strconv.Itoa(int(e))
}

// errorPayload is the ERROR payload for anything a handler returned: its own code for
// an OpError, the errno name for a failed system call, INTERNAL otherwise.
func errorPayload(err error) map[string]interface{} {
	var op *OpError
	if errors.As(err, &op) {
		out := map[string]interface{}{}
		for k, v := range op.Details {
			out[k] = v
		}
		out["code"] = op.Code
		out["message"] = op.Message
		return out
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		name := ErrnoName(errno)
		out := map[string]interface{}{"code": name}
		var pe *os.PathError
		var le *os.LinkError
		var se *os.SyscallError
		switch {
		case errors.As(err, &pe):
			out["message"] = name + ": " + errno.Error() + ", " + pe.Op + " '" + pe.Path + "'"
			out["syscall"] = pe.Op
			out["path"] = pe.Path
		case errors.As(err, &le):
			out["message"] = name + ": " + errno.Error() + ", " + le.Op + " '" + le.Old + "' -> '" + le.New + "'"
			out["syscall"] = le.Op
			out["path"] = le.Old
			out["dest"] = le.New
		case errors.As(err, &se):
			out["message"] = name + ": " + errno.Error() + ", " + se.Syscall
			out["syscall"] = se.Syscall
		default:
			out["message"] = name + ": " + errno.Error()
		}
		return out
	}
	return map[string]interface{}{"code": codeInternal, "message": err.Error()}
}

func pathErr(op, path string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(syscall.Errno); ok {
		return &os.PathError{Op: op, Path: path, Err: err}
	}
	return err
}
