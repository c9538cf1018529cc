// Package agent is the plinth guest agent's protocol core: sessions over any byte stream,
// requests by id running concurrently, their streams under credit flow control, and the
// operations (exec with or without a pty, files, info, shutdown).
package agent

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"plinth/agent/internal/wire"
)

// Name is the agent's name in hello.
const Name = "plinth-agent"

// Agent serves connections. Its fields are set before the first Serve.
type Agent struct {
	Version string
	// Log receives diagnostics (the command writes them to stderr).
	Log func(string)
	// PowerOff is called after the shutdown reply went out.
	PowerOff func(action string)
	// BaseEnv is the environment every exec starts from, unless it asks for a clear one.
	BaseEnv        []string
	PasswdFile     string
	GroupFile      string
	OSReleaseFiles []string
	// Cwd is where exec runs when neither the request nor the user's home says.
	Cwd string
	// DefaultCwd and DefaultUser apply when a request names no cwd or user (LoadDefaults).
	DefaultCwd  string
	DefaultUser interface{}
	entrypoint  []string

	started  time.Time
	sessions uint32
	mu       sync.Mutex
	conns    map[*conn]struct{}
}

// New returns an agent with the defaults of a real guest.
func New(version string) *Agent {
	cwd, err := os.Getwd()
	if err != nil {
		cwd = "/"
	}
	return &Agent{
		Version:        version,
		Log:            func(string) {},
		PowerOff:       func(string) {},
		BaseEnv:        ChildEnv(os.Environ()),
		PasswdFile:     "/etc/passwd",
		GroupFile:      "/etc/group",
		OSReleaseFiles: []string{"/etc/os-release", "/usr/lib/os-release"},
		Cwd:            cwd,
		started:        time.Now(),
		conns:          map[*conn]struct{}{},
	}
}

// ChildEnv is the agent's environment minus its own settings, with a PATH even under a
// bare init.
func ChildEnv(environ []string) []string {
	out := make([]string, 0, len(environ)+1)
	hasPath := false
	for _, kv := range environ {
		if len(kv) >= 13 && kv[:13] == "PLINTH_AGENT_" {
			continue
		}
		if len(kv) >= 5 && kv[:5] == "PATH=" {
			hasPath = true
		}
		out = append(out, kv)
	}
	if !hasPath {
		out = append(out, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	return out
}

func (a *Agent) logf(parts ...string) {
	var b bytes.Buffer
	for _, p := range parts {
		b.WriteString(p)
	}
	a.Log(b.String())
}

// Connections is the number of connections being served.
func (a *Agent) Connections() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.conns)
}

// Requests is the number of requests running over all connections.
func (a *Agent) Requests() int {
	a.mu.Lock()
	conns := make([]*conn, 0, len(a.conns))
	for c := range a.conns {
		conns = append(conns, c)
	}
	a.mu.Unlock()
	n := 0
	for _, c := range conns {
		c.mu.Lock()
		n += len(c.requests)
		c.mu.Unlock()
	}
	return n
}

// CloseAll ends every connection; their requests are dropped as on a disconnect.
func (a *Agent) CloseAll() {
	a.mu.Lock()
	conns := make([]*conn, 0, len(a.conns))
	for c := range a.conns {
		conns = append(conns, c)
	}
	a.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// Serve serves one connection until it ends (EOF, an error, or CloseAll), then drops
// every request of its session: processes get SIGKILL to their process group, file
// writes in progress are removed. rw.Close must interrupt a blocked Read.
func (a *Agent) Serve(rw io.ReadWriteCloser) {
	c := &conn{a: a, rw: rw, requests: map[uint32]*request{}}
	c.w = newWriter(rw, func(err error) {
		if !errors.Is(err, os.ErrClosed) {
			a.logf("connection write failed: ", err.Error())
		}
		c.close()
	})
	a.mu.Lock()
	a.conns[c] = struct{}{}
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.conns, c)
		a.mu.Unlock()
	}()
	go c.w.run()
	c.readLoop()
	c.close()
	// Let the dropped requests clean up (processes killed, temp files removed) before the
	// caller moves on (stdio then exits), but never hang on one that does not end.
	finished := make(chan struct{})
	go func() {
		c.wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
	case <-time.After(5 * time.Second):
	}
}

// conn is the agent's side of one connection.
type conn struct {
	a        *Agent
	rw       io.ReadWriteCloser
	w        *writer
	mu       sync.Mutex
	requests map[uint32]*request
	// Only the reader goroutine touches these.
	greeted bool
	number  uint32
	closed  atomic.Bool
	wg      sync.WaitGroup
}

func (c *conn) readLoop() {
	dec := wire.NewDecoder(bufio.NewReaderSize(c.rw, 256<<10), wire.MaxFrameSize)
	for {
		ev, err := dec.Next()
		if err != nil {
			if err != io.EOF && !c.closed.Load() && !errors.Is(err, os.ErrClosed) {
				c.a.logf("connection error: ", err.Error())
			}
			return
		}
		c.guard(func() { c.handle(ev) })
	}
}

func (c *conn) close() {
	if !c.closed.CompareAndSwap(false, true) {
		return
	}
	if c.number > 0 {
		c.a.logf("session ", strconv.Itoa(int(c.number)), ": connection closed")
	}
	c.dropAll()
	c.w.close()
	_ = c.rw.Close()
}

// guard keeps a bug in the agent (not bad input) from taking the agent down.
func (c *conn) guard(fn func()) {
	defer func() {
		if p := recover(); p != nil {
			c.a.logf("internal error: ", panicText(p), "\n", string(debug.Stack()))
		}
	}()
	fn()
}

func panicText(p interface{}) string {
	switch v := p.(type) {
	case error:
		return v.Error()
	case string:
		return v
	}
	b, _ := json.Marshal(p)
	return string(b)
}

func (c *conn) get(id uint32) *request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests[id]
}

// finished forgets a request that sent its last frame.
func (c *conn) finished(r *request) {
	c.mu.Lock()
	if c.requests[r.id] == r {
		delete(c.requests, r.id)
	}
	c.mu.Unlock()
}

func (c *conn) dropAll() {
	c.mu.Lock()
	list := make([]*request, 0, len(c.requests))
	for _, r := range c.requests {
		list = append(list, r)
	}
	c.requests = map[uint32]*request{}
	c.mu.Unlock()
	for _, r := range list {
		r.drop()
	}
}

func (c *conn) handle(ev wire.Event) {
	if ev.Skipped > 0 {
		c.notice(map[string]interface{}{
			"code":    codeResync,
			"message": "skipped " + strconv.Itoa(ev.Skipped) + " bytes that were not a frame",
			"skipped": ev.Skipped,
		})
	}
	if ev.Oversize {
		c.reject(ev.ID, codeFrameTooLarge, "frame of "+strconv.FormatUint(uint64(ev.Length), 10)+
			" bytes exceeds "+strconv.Itoa(wire.MaxFrameSize))
		return
	}
	switch ev.Type {
	case wire.Request:
		c.onRequest(ev)
	case wire.Data:
		if r := c.get(ev.ID); r != nil {
			r.data(ev.Channel, ev.Payload)
		}
	case wire.End:
		if r := c.get(ev.ID); r != nil {
			r.input(ev.Channel).end()
		}
	case wire.Credit:
		n, ok := ParseCredit(ev.Payload)
		if !ok {
			c.reject(ev.ID, codeBadFrame, "CREDIT payload must be 4 bytes")
			return
		}
		if r := c.get(ev.ID); r != nil {
			r.output(ev.Channel).grant(int64(n))
		}
	case wire.Cancel:
		signal, ok := ParseCancel(ev.Payload)
		if !ok {
			c.reject(ev.ID, codeBadFrame, "CANCEL payload must be empty or JSON")
			return
		}
		if r := c.get(ev.ID); r != nil {
			r.cancel(signal)
		}
	default:
		// Late frames of finished requests are normal and ignored above; a frame type the
		// agent never receives is an error even then.
		c.reject(ev.ID, codeBadFrame, "unexpected frame type "+strconv.Itoa(int(ev.Type)))
	}
}

// ParseCredit reads a CREDIT payload (u32 big endian).
func ParseCredit(p []byte) (uint32, bool) {
	if len(p) != 4 {
		return 0, false
	}
	return uint32(p[0])<<24 | uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3]), true
}

// ParseCancel reads a CANCEL payload: empty, or a JSON object with an optional signal.
func ParseCancel(p []byte) (string, bool) {
	body, err := parseObject(p)
	if err != nil {
		return "", false
	}
	s, _ := body["signal"].(string)
	return s, true
}

var errNotObject = errors.New("payload is not a JSON object")

// parseObject parses a JSON payload that must be an object; empty means {}.
func parseObject(p []byte) (map[string]interface{}, error) {
	if len(p) == 0 {
		return map[string]interface{}{}, nil
	}
	var v interface{}
	if err := json.Unmarshal(p, &v); err != nil {
		return nil, err
	}
	m, ok := v.(map[string]interface{})
	if !ok {
		return nil, errNotObject
	}
	return m, nil
}

func (c *conn) onRequest(ev wire.Event) {
	if ev.ID == wire.SessionID {
		c.notice(map[string]interface{}{"code": codeBadRequest, "message": "request id 0 is reserved"})
		return
	}
	body, err := parseObject(ev.Payload)
	if err != nil {
		c.reject(ev.ID, codeBadRequest, "bad JSON: "+err.Error())
		return
	}
	if op, _ := body["op"].(string); op == "hello" {
		c.hello(ev.ID, body)
		return
	}
	if !c.greeted {
		c.reject(ev.ID, codeNoHello, "send hello first")
		return
	}
	if c.get(ev.ID) != nil {
		c.notice(map[string]interface{}{
			"code":    codeDuplicateID,
			"message": "request " + strconv.FormatUint(uint64(ev.ID), 10) + " is still running",
			"id":      ev.ID,
		})
		return
	}
	op, spec, params, err := parseRequest(body)
	if err != nil {
		c.replyError(ev.ID, errorPayload(err))
		return
	}
	r := newRequest(ev.ID, op, c)
	if ep, ok := params.(*execParams); ok && ep.pty != nil {
		r.wantsPty = true
	}
	c.mu.Lock()
	c.requests[ev.ID] = r
	c.mu.Unlock()
	if spec.inline {
		c.run(r, spec, params)
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.run(r, spec, params)
	}()
}

func (c *conn) run(r *request, spec *opSpec, params interface{}) {
	defer func() {
		if p := recover(); p != nil {
			c.a.logf("internal error: ", r.op, ": ", panicText(p), "\n", string(debug.Stack()))
			r.fail(opError(codeInternal, panicText(p)))
		}
	}()
	result, err := spec.run(c.a, r, params)
	if err != nil {
		r.fail(err)
	} else {
		r.respond(result)
	}
}

type protocolVersion struct {
	Major int `json:"major"`
	Minor int `json:"minor"`
}

func asVersion(v interface{}) (protocolVersion, bool) {
	m, ok := v.(map[string]interface{})
	if !ok {
		return protocolVersion{}, false
	}
	ma, ok1 := m["major"].(float64)
	mi, ok2 := m["minor"].(float64)
	if !ok1 || !ok2 || ma < 0 || mi < 0 || ma != float64(int64(ma)) || mi != float64(int64(mi)) ||
		ma > maxSafeInteger || mi > maxSafeInteger {
		return protocolVersion{}, false
	}
	return protocolVersion{int(ma), int(mi)}, true
}

type helloResponse struct {
	Agent        string          `json:"agent"`
	Version      string          `json:"version"`
	Protocol     protocolVersion `json:"protocol"`
	Capabilities []string        `json:"capabilities"`
	Nonce        string          `json:"nonce"`
	Pid          int             `json:"pid"`
	Pid1         bool            `json:"pid1"`
	MaxFrameSize int             `json:"maxFrameSize"`
	Window       int             `json:"window"`
	Session      uint32          `json:"session"`
}

var ourProtocol = protocolVersion{wire.ProtocolMajor, wire.ProtocolMinor}

func formatProtocol(v protocolVersion) string {
	return strconv.Itoa(v.Major) + "." + strconv.Itoa(v.Minor)
}

var padding []byte
var paddingOnce sync.Once

func (c *conn) hello(id uint32, body map[string]interface{}) {
	nonce, hasNonce := body["nonce"].(string)
	c.dropAll()
	c.greeted = false
	withNonce := func(m map[string]interface{}) map[string]interface{} {
		if hasNonce {
			m["nonce"] = nonce
		}
		return m
	}
	remote, ok := asVersion(body["protocol"])
	if !ok {
		c.replyError(id, withNonce(map[string]interface{}{
			"code": codeBadRequest, "message": "hello needs protocol: {major, minor}",
		}))
		return
	}
	if remote.Major != ourProtocol.Major {
		c.replyError(id, withNonce(map[string]interface{}{
			"code": codeProtocolMismatch,
			"message": "agent " + c.a.Version + " speaks protocol " + formatProtocol(remote) +
				" is not compatible with " + formatProtocol(ourProtocol) + " (major versions differ)",
			"agentVersion":  c.a.Version,
			"agentProtocol": ourProtocol,
		}))
		return
	}
	// The host retries hello with pad when a reply did not come: zeros complete any
	// partial frame a previous session left in the host's decoder.
	if pad, _ := body["pad"].(bool); pad {
		paddingOnce.Do(func() { padding = make([]byte, wire.HeaderSize+wire.MaxFrameSize) })
		c.w.send(outFrame{b: padding})
	}
	c.greeted = true
	c.number = atomic.AddUint32(&c.a.sessions, 1)
	client, _ := body["client"].(string)
	if client == "" {
		client = "unknown"
	}
	if len(client) > 100 {
		client = client[:100]
	}
	c.a.logf("session ", strconv.Itoa(int(c.number)), ": hello from ", client)
	pid := os.Getpid()
	c.w.send(outFrame{b: jsonFrame(wire.Response, id, helloResponse{
		Agent:        Name,
		Version:      c.a.Version,
		Protocol:     ourProtocol,
		Capabilities: Capabilities(),
		Nonce:        nonce,
		Pid:          pid,
		Pid1:         pid == 1,
		MaxFrameSize: wire.MaxFrameSize,
		Window:       wire.InitialWindow,
		Session:      c.number,
	})})
}

// reject answers a frame with an ERROR for its id: it ends that request if it runs,
// is a session notice for id 0, else answers the frame.
func (c *conn) reject(id uint32, code, message string) {
	if r := c.get(id); r != nil {
		r.fail(opError(code, message))
		r.drop()
		return
	}
	payload := map[string]interface{}{"code": code, "message": message}
	if id == wire.SessionID {
		c.notice(payload)
	} else {
		c.replyError(id, payload)
	}
}

func (c *conn) notice(payload map[string]interface{}) { c.replyError(wire.SessionID, payload) }

func (c *conn) replyError(id uint32, payload map[string]interface{}) {
	c.w.send(outFrame{b: errorFrame(id, payload)})
}

const maxMessage = 2000

// errorFrame is an ERROR frame that always fits: messages may quote what the peer sent,
// so they are cut, and the extra fields dropped if it is still too large.
func errorFrame(id uint32, payload map[string]interface{}) []byte {
	if msg, ok := payload["message"].(string); ok {
		if r := []rune(msg); len(r) > maxMessage {
			payload["message"] = string(r[:maxMessage]) + "…"
		}
	}
	b, err := marshal(payload)
	if err != nil || len(b) > wire.MaxFrameSize {
		small := map[string]interface{}{"code": payload["code"], "message": payload["message"]}
		if n, ok := payload["nonce"]; ok {
			small["nonce"] = n
		}
		b, _ = marshal(small)
		if len(b) > wire.MaxFrameSize {
			b, _ = marshal(map[string]interface{}{"code": payload["code"], "message": "(too large)"})
		}
	}
	return wire.Frame(wire.Error, 0, id, b)
}

func marshal(v interface{}) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return b[:len(b)-1], nil // Encode adds a newline
}

// jsonFrame encodes v as a frame's JSON payload; it panics only on a bug (an
// unencodable value), which guard or run turn into an internal error.
func jsonFrame(typ uint8, id uint32, v interface{}) []byte {
	b, err := marshal(v)
	if err != nil {
		panic(err)
	}
	return wire.Frame(typ, 0, id, b)
}
