package agent

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"plinth/agent/internal/wire"
)

type pathParams struct{ path string }

func parsePathOnly(a args) (interface{}, error) {
	p, err := a.path("path")
	return pathParams{p}, err
}

// file.read

type readParams struct {
	path      string
	offset    int64
	length    int64
	hasLength bool
}

func parseFileRead(a args) (interface{}, error) {
	p, err := a.path("path")
	if err != nil {
		return nil, err
	}
	offset, _, err := a.optInt("offset", 0, maxSafeInteger)
	if err != nil {
		return nil, err
	}
	length, hasLength, err := a.optInt("length", 0, maxSafeInteger)
	if err != nil {
		return nil, err
	}
	return readParams{p, offset, length, hasLength}, nil
}

type sizeResponse struct {
	Size int64 `json:"size"`
}

// runFileRead streams a file (or a byte range of it) as DATA frames; the reply carries
// the number of bytes sent.
func runFileRead(_ *Agent, r *request, params interface{}) (interface{}, error) {
	p := params.(readParams)
	if p.hasLength && p.length == 0 {
		return sizeResponse{0}, nil
	}
	f, err := os.Open(p.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := r.output(wire.ChanData)
	buf := make([]byte, wire.DataChunkSize)
	pos, sent := p.offset, int64(0)
	for {
		if r.isAborted() {
			return nil, r.cause()
		}
		n := int64(len(buf))
		if p.hasLength && p.length-sent < n {
			n = p.length - sent
		}
		if n == 0 {
			break
		}
		var m int
		if p.offset == 0 {
			// Sequential reads work on anything (pipes, devices), pread only on files.
			m, err = f.Read(buf[:n])
		} else {
			m, err = f.ReadAt(buf[:n], pos)
		}
		if m > 0 {
			if !out.write(buf[:m]) {
				return nil, r.cause()
			}
			pos += int64(m)
			sent += int64(m)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return sizeResponse{sent}, nil
}

// file.write

type writeParams struct {
	path     string
	mode     uint32
	hasMode  bool
	owner    interface{}
	mkdirs   bool
	hasOwner bool
}

func parseFileWrite(a args) (interface{}, error) {
	var p writeParams
	var err error
	if p.path, err = a.path("path"); err != nil {
		return nil, err
	}
	if p.mode, p.hasMode, err = a.optMode("mode"); err != nil {
		return nil, err
	}
	if p.owner, err = a.optID("owner"); err != nil {
		return nil, err
	}
	p.hasOwner = p.owner != nil
	if p.mkdirs, err = a.optBool("mkdirs"); err != nil {
		return nil, err
	}
	return p, nil
}

var tempCounter uint64

func tempName(dir, base string) string {
	n := atomic.AddUint64(&tempCounter, 1)
	x := uint64(time.Now().UnixNano())*2654435761 ^ uint64(os.Getpid())<<32 ^ n
	return dir + "/." + base + ".plinth-" + strconv.FormatUint(x&0xffffffffffff, 16)
}

// runFileWrite receives a file as DATA frames up to END and puts it in place atomically:
// a temp file beside the target gets the bytes, its owner, then its mode (chown clears
// setuid bits), is fsynced and renamed over the target. A failure, a CANCEL or the end
// of the session removes the temp file. Replacing keeps the file's mode (and, as root,
// its owner) unless given; a symlink at the path is replaced, not followed.
func runFileWrite(ag *Agent, r *request, params interface{}) (interface{}, error) {
	p := params.(writeParams)
	// Claim the input now: the host streams within its credit without waiting for us.
	in := r.input(wire.ChanData)
	dir, base := path.Dir(p.path), path.Base(p.path)
	if p.mkdirs {
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return nil, err
		}
	}
	var existing *syscall.Stat_t
	var st syscall.Stat_t
	if err := syscall.Stat(p.path, &st); err == nil {
		existing = &st
	} else if err != syscall.ENOENT {
		return nil, pathErr("stat", p.path, err)
	}
	if existing != nil && existing.Mode&syscall.S_IFMT == syscall.S_IFDIR {
		return nil, &OpError{Code: "EISDIR", Message: p.path + " is a directory",
			Details: map[string]interface{}{"path": p.path}}
	}
	uid, gid, setOwner := -1, -1, false
	if p.hasOwner {
		u, g, err := ag.resolveOwner(p.owner)
		if err != nil {
			return nil, err
		}
		uid, gid, setOwner = int(u), int(g), true
	} else if existing != nil && os.Geteuid() == 0 {
		uid, gid, setOwner = int(existing.Uid), int(existing.Gid), true
	}
	if r.isAborted() {
		return nil, r.cause()
	}
	var f *os.File
	var temp string
	for attempt := 0; ; attempt++ {
		temp = tempName(dir, base)
		var err error
		f, err = os.OpenFile(temp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			break
		}
		if !os.IsExist(err) || attempt > 5 {
			return nil, err
		}
	}
	placed, open := false, true
	defer func() {
		if open {
			f.Close()
		}
		if !placed {
			os.Remove(temp)
		}
	}()
	var size int64
	for {
		b, more := in.next()
		if !more {
			break
		}
		if _, err := f.Write(b); err != nil {
			return nil, err
		}
		size += int64(len(b))
	}
	// The input also ends when the request is cancelled, failed or dropped: then it
	// must not be put in place.
	if in.aborted() || r.isAborted() {
		return nil, r.cause()
	}
	if setOwner {
		if err := f.Chown(uid, gid); err != nil {
			return nil, err
		}
	}
	mode := uint32(0o644)
	if p.hasMode {
		mode = p.mode
	} else if existing != nil {
		mode = existing.Mode & 0o7777
	}
	if err := control(f, func(fd uintptr) error { return syscall.Fchmod(int(fd), mode) }); err != nil {
		return nil, pathErr("chmod", temp, err)
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	open = false
	if err := f.Close(); err != nil {
		return nil, err
	}
	if err := os.Rename(temp, p.path); err != nil {
		return nil, err
	}
	placed = true
	return sizeResponse{size}, nil
}

// file.stat and file.list

func fileType(mode uint32) string {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		return "file"
	case syscall.S_IFDIR:
		return "dir"
	case syscall.S_IFLNK:
		return "symlink"
	}
	return "other"
}

func ms(t syscall.Timespec) float64 {
	return float64(t.Sec)*1000 + float64(t.Nsec)/1e6
}

type statParams struct {
	path   string
	follow bool
}

func parseFileStat(a args) (interface{}, error) {
	p, err := a.path("path")
	if err != nil {
		return nil, err
	}
	follow := true
	if a.present("followSymlinks") {
		if follow, err = a.optBool("followSymlinks"); err != nil {
			return nil, err
		}
	}
	return statParams{p, follow}, nil
}

type statResponse struct {
	Type    string  `json:"type"`
	Size    int64   `json:"size"`
	Mode    uint32  `json:"mode"`
	UID     uint32  `json:"uid"`
	GID     uint32  `json:"gid"`
	MtimeMs float64 `json:"mtimeMs"`
	AtimeMs float64 `json:"atimeMs"`
	CtimeMs float64 `json:"ctimeMs"`
	Target  *string `json:"target,omitempty"`
}

// runFileStat follows symlinks by default; followSymlinks: false describes the link.
func runFileStat(_ *Agent, _ *request, params interface{}) (interface{}, error) {
	p := params.(statParams)
	var st syscall.Stat_t
	if p.follow {
		if err := syscall.Stat(p.path, &st); err != nil {
			return nil, pathErr("stat", p.path, err)
		}
	} else if err := syscall.Lstat(p.path, &st); err != nil {
		return nil, pathErr("lstat", p.path, err)
	}
	res := statResponse{
		Type: fileType(st.Mode), Size: st.Size, Mode: st.Mode & 0o7777, UID: st.Uid, GID: st.Gid,
		MtimeMs: ms(st.Mtim), AtimeMs: ms(st.Atim), CtimeMs: ms(st.Ctim),
	}
	if res.Type == "symlink" {
		target, err := os.Readlink(p.path)
		if err != nil {
			return nil, err
		}
		res.Target = &target
	}
	return res, nil
}

type dirEntry struct {
	Name    string  `json:"name"`
	Type    string  `json:"type"`
	Size    int64   `json:"size"`
	Mode    uint32  `json:"mode"`
	MtimeMs float64 `json:"mtimeMs"`
}

// runFileList streams the entries of a directory (not recursive, symlinks not followed)
// as newline-separated JSON on the data channel, so any size fits the frame limit.
func runFileList(_ *Agent, r *request, params interface{}) (interface{}, error) {
	dir := params.(pathParams).path
	f, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := r.output(wire.ChanData)
	var batch bytes.Buffer
	enc := json.NewEncoder(&batch)
	enc.SetEscapeHTML(false)
	inBatch, count := 0, 0
	flush := func() bool {
		if batch.Len() == 0 {
			return true
		}
		ok := out.write(batch.Bytes())
		batch.Reset()
		inBatch = 0
		return ok
	}
	for {
		names, err := f.Readdirnames(wire.ListBatch)
		for _, name := range names {
			if r.isAborted() {
				return nil, r.cause()
			}
			var st syscall.Stat_t
			if syscall.Lstat(dir+"/"+name, &st) != nil {
				continue // removed while listing
			}
			_ = enc.Encode(dirEntry{Name: name, Type: fileType(st.Mode), Size: st.Size,
				Mode: st.Mode & 0o7777, MtimeMs: ms(st.Mtim)})
			count++
			if inBatch++; inBatch >= wire.ListBatch && !flush() {
				return nil, r.cause()
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if !flush() {
		return nil, r.cause()
	}
	return map[string]int{"count": count}, nil
}

// file.mkdir, file.remove, file.rename

type mkdirParams struct {
	path      string
	mode      uint32
	hasMode   bool
	recursive bool
}

func parseMkdir(a args) (interface{}, error) {
	var p mkdirParams
	var err error
	if p.path, err = a.path("path"); err != nil {
		return nil, err
	}
	if p.mode, p.hasMode, err = a.optMode("mode"); err != nil {
		return nil, err
	}
	if p.recursive, err = a.optBool("recursive"); err != nil {
		return nil, err
	}
	return p, nil
}

// mkdirAll creates p and its missing parents (each with mode, less the umask); it
// tells whether it created anything. An existing non-directory is EEXIST at p and
// ENOTDIR above it, as with Node's mkdir.
func mkdirAll(p string, mode uint32, top bool) (bool, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err == nil {
		if st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
			return false, nil
		}
		if top {
			return false, pathErr("mkdir", p, syscall.EEXIST)
		}
		return false, pathErr("mkdir", p, syscall.ENOTDIR)
	}
	if parent := path.Dir(p); parent != p {
		if _, err := mkdirAll(parent, mode, false); err != nil {
			return false, err
		}
	}
	if err := syscall.Mkdir(p, mode); err != nil {
		if err == syscall.EEXIST && isDir(p) {
			return false, nil
		}
		return false, pathErr("mkdir", p, err)
	}
	return true, nil
}

// runMkdir applies mode exactly (not masked by the umask) to the directory it creates.
func runMkdir(_ *Agent, _ *request, params interface{}) (interface{}, error) {
	p := params.(mkdirParams)
	mode := uint32(0o777)
	if p.hasMode {
		mode = p.mode
	}
	created := true
	if p.recursive {
		var err error
		if created, err = mkdirAll(p.path, mode, true); err != nil {
			return nil, err
		}
	} else if err := syscall.Mkdir(p.path, mode); err != nil {
		return nil, pathErr("mkdir", p.path, err)
	}
	if created && p.hasMode {
		if err := syscall.Chmod(p.path, mode); err != nil {
			return nil, pathErr("chmod", p.path, err)
		}
	}
	return map[string]bool{"created": created}, nil
}

type removeParams struct {
	path             string
	recursive, force bool
}

func parseRemove(a args) (interface{}, error) {
	var p removeParams
	var err error
	if p.path, err = a.path("path"); err != nil {
		return nil, err
	}
	if p.recursive, err = a.optBool("recursive"); err != nil {
		return nil, err
	}
	if p.force, err = a.optBool("force"); err != nil {
		return nil, err
	}
	return p, nil
}

// runRemove removes a file, symlink or empty directory; recursive for trees, force to
// ignore a missing path.
func runRemove(_ *Agent, _ *request, params interface{}) (interface{}, error) {
	p := params.(removeParams)
	var st syscall.Stat_t
	if err := syscall.Lstat(p.path, &st); err != nil {
		if p.force && err == syscall.ENOENT {
			return map[string]bool{"removed": false}, nil
		}
		return nil, pathErr("lstat", p.path, err)
	}
	isDir := st.Mode&syscall.S_IFMT == syscall.S_IFDIR
	switch {
	case isDir && !p.recursive:
		if err := syscall.Rmdir(p.path); err != nil {
			return nil, pathErr("rmdir", p.path, err)
		}
	case isDir:
		if err := os.RemoveAll(p.path); err != nil {
			return nil, err
		}
	default:
		if err := syscall.Unlink(p.path); err != nil {
			return nil, pathErr("unlink", p.path, err)
		}
	}
	return map[string]bool{"removed": true}, nil
}

type renameParams struct{ from, to string }

func parseRename(a args) (interface{}, error) {
	from, err := a.path("from")
	if err != nil {
		return nil, err
	}
	to, err := a.path("to")
	if err != nil {
		return nil, err
	}
	return renameParams{from, to}, nil
}

func runRename(_ *Agent, _ *request, params interface{}) (interface{}, error) {
	p := params.(renameParams)
	if err := syscall.Rename(p.from, p.to); err != nil {
		return nil, &os.LinkError{Op: "rename", Old: p.from, New: p.to, Err: err}
	}
	return struct{}{}, nil
}
