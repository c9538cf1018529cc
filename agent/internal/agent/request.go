package agent

import (
	"bufio"
	"io"
	"strconv"
	"sync"
	"sync/atomic"

	"plinth/agent/internal/wire"
)

// outFrame is one frame (or padding) for the writer. Frames of a request that was
// dropped are discarded by the writer even if they were queued before the drop, so
// nothing of an old session follows the reply to a new hello.
type outFrame struct {
	b    []byte
	req  *request
	done func()
}

// writer is the only goroutine writing to a connection: frames are never interleaved,
// and it flushes when no more frames are waiting, so bursts go out in few writes.
type writer struct {
	ch      chan outFrame
	quit    chan struct{}
	once    sync.Once
	w       io.Writer
	onError func(error)
}

func newWriter(w io.Writer, onError func(error)) *writer {
	return &writer{ch: make(chan outFrame, 128), quit: make(chan struct{}), w: w, onError: onError}
}

func (w *writer) send(f outFrame) {
	select {
	case <-w.quit:
		if f.done != nil {
			f.done()
		}
		return
	default:
	}
	select {
	case w.ch <- f:
	case <-w.quit:
		if f.done != nil {
			f.done()
		}
	}
}

func (w *writer) close() { w.once.Do(func() { close(w.quit) }) }

func (w *writer) run() {
	bw := bufio.NewWriterSize(w.w, 128<<10)
	var dones []func()
	failed := false
	for {
		var f outFrame
		select {
		case f = <-w.ch:
		case <-w.quit:
			return
		}
		for {
			if !failed && (f.req == nil || !f.req.dropped.Load()) {
				if _, err := bw.Write(f.b); err != nil {
					failed = true
					w.onError(err)
				}
			}
			if f.done != nil {
				dones = append(dones, f.done)
			}
			more := false
			select {
			case f = <-w.ch:
				more = true
			default:
			}
			if !more {
				break
			}
		}
		if !failed {
			if err := bw.Flush(); err != nil {
				failed = true
				w.onError(err)
			}
		}
		for _, d := range dones {
			d()
		}
		dones = dones[:0]
	}
}

// request is one running request: its streams in both directions, its abort signal and
// its one final RESPONSE or ERROR. Once finished or dropped it sends nothing more.
type request struct {
	id uint32
	op string
	c  *conn
	// done: no more frames (finished or dropped); dropped: discard what is still queued.
	done    atomic.Bool
	dropped atomic.Bool

	mu       sync.Mutex
	inputs   map[uint8]*input
	outputs  map[uint8]*output
	abortCh  chan struct{}
	abortErr error
	// onCancel delivers a CANCEL (exec signals its process group); nil aborts.
	onCancel func(signal string)
	// onResize sets the window size of the request's pty (exec with pty); a resize that
	// comes before the pty exists is kept in pendingSize and applied when it does.
	onResize    func(rows, cols uint16) error
	wantsPty    bool
	pendingSize *[2]uint16
	// afterResponse runs once the RESPONSE was written (shutdown powers off then).
	afterResponse func()
}

func newRequest(id uint32, op string, c *conn) *request {
	return &request{id: id, op: op, c: c, inputs: map[uint8]*input{}, outputs: map[uint8]*output{},
		abortCh: make(chan struct{})}
}

// aborted is closed on CANCEL (except exec), on a drop and on a flow-control error.
func (r *request) aborted() <-chan struct{} { return r.abortCh }

func (r *request) isAborted() bool {
	select {
	case <-r.abortCh:
		return true
	default:
		return false
	}
}

func (r *request) cause() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.abortErr == nil {
		return opError(codeCancelled, "the request ended")
	}
	return r.abortErr
}

func (r *request) abort(err error) {
	r.mu.Lock()
	if r.abortErr != nil {
		r.mu.Unlock()
		return
	}
	r.abortErr = err
	close(r.abortCh)
	r.mu.Unlock()
	r.closeStreams()
}

// closeStreams ends every stream of the request: inputs abort, outputs close.
func (r *request) closeStreams() {
	r.mu.Lock()
	inputs, outputs := r.streams()
	r.mu.Unlock()
	for _, in := range inputs {
		in.abort()
	}
	for _, out := range outputs {
		out.close()
	}
}

func (r *request) streams() ([]*input, []*output) {
	ins := make([]*input, 0, len(r.inputs))
	for _, in := range r.inputs {
		ins = append(ins, in)
	}
	outs := make([]*output, 0, len(r.outputs))
	for _, out := range r.outputs {
		outs = append(outs, out)
	}
	return ins, outs
}

// input is what the host streams on channel; created on first use by either side.
func (r *request) input(channel uint8) *input {
	r.mu.Lock()
	defer r.mu.Unlock()
	in := r.inputs[channel]
	if in == nil {
		in = newInput(func(n int64) {
			if !r.done.Load() {
				r.c.w.send(outFrame{b: wire.CreditFrame(r.id, channel, uint32(n)), req: r})
			}
		})
		if r.done.Load() || r.abortErr != nil {
			in.abort()
		}
		r.inputs[channel] = in
	}
	return in
}

// output sends to the host on channel, within the credit the host grants.
func (r *request) output(channel uint8) *output {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.outputs[channel]
	if out == nil {
		out = newOutput(func(chunk []byte) {
			if !r.done.Load() {
				r.c.w.send(outFrame{b: wire.Frame(wire.Data, channel, r.id, chunk), req: r})
			}
		})
		if r.done.Load() || r.abortErr != nil {
			out.close()
		}
		r.outputs[channel] = out
	}
	return out
}

func (r *request) setCancel(fn func(string)) {
	r.mu.Lock()
	r.onCancel = fn
	r.mu.Unlock()
}

func (r *request) setResize(fn func(rows, cols uint16) error) {
	r.mu.Lock()
	r.onResize = fn
	pending := r.pendingSize
	r.pendingSize = nil
	r.mu.Unlock()
	if pending != nil {
		_ = fn(pending[0], pending[1])
	}
}

func (r *request) resize(rows, cols uint16) error {
	r.mu.Lock()
	fn := r.onResize
	if fn == nil {
		defer r.mu.Unlock()
		if !r.wantsPty {
			return badRequest("exec " + strconv.Itoa(int(r.id)) + " has no pty")
		}
		r.pendingSize = &[2]uint16{rows, cols}
		return nil
	}
	r.mu.Unlock()
	return fn(rows, cols)
}

func (r *request) data(channel uint8, payload []byte) {
	if !r.input(channel).push(payload) {
		err := opError(codeFlowControl, "more bytes on channel "+strconv.Itoa(int(channel))+" than granted")
		r.fail(err)
		r.abort(err)
	}
}

func (r *request) cancel(signal string) {
	if r.done.Load() {
		return
	}
	r.mu.Lock()
	fn := r.onCancel
	r.mu.Unlock()
	if fn != nil {
		fn(signal)
	} else {
		r.abort(opError(codeCancelled, "cancelled by the host"))
	}
}

func (r *request) respond(value interface{}) {
	if !r.finish() {
		return
	}
	if value == nil {
		value = struct{}{}
	}
	b, err := marshal(value)
	if err != nil || len(b) > wire.MaxFrameSize {
		if err == nil {
			err = opError(codeInternal, "the reply exceeds the frame limit")
		}
		r.c.w.send(outFrame{b: errorFrame(r.id, errorPayload(err)), req: r})
		return
	}
	r.mu.Lock()
	after := r.afterResponse
	r.mu.Unlock()
	r.c.w.send(outFrame{b: wire.Frame(wire.Response, 0, r.id, b), req: r, done: after})
}

func (r *request) fail(err error) {
	if r.finish() {
		r.c.w.send(outFrame{b: errorFrame(r.id, errorPayload(err)), req: r})
	}
}

// drop stops the request without a reply: the session is over or reset.
func (r *request) drop() {
	r.dropped.Store(true)
	r.abort(opError(codeSessionReset, "the session ended"))
	r.finish()
}

func (r *request) finish() bool {
	if !r.done.CompareAndSwap(false, true) {
		return false
	}
	r.closeStreams()
	r.c.finished(r)
	return true
}

// input holds the bytes the host sent on one channel until the handler takes them. A
// chunk counts as consumed, earning the host credit, when the handler asks for the next
// one, i.e. after it wrote the previous one where it goes.
type input struct {
	mu       sync.Mutex
	queue    [][]byte
	ended    bool
	stopped  bool
	wake     chan struct{}
	received int64
	allowed  int64
	unacked  int64
	last     int
	grant    func(int64)
}

func newInput(grant func(int64)) *input {
	return &input{wake: make(chan struct{}, 1), allowed: wire.InitialWindow, grant: grant}
}

func (in *input) notify() {
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

// push queues DATA from the host; false when it went beyond its credit.
func (in *input) push(b []byte) bool {
	in.mu.Lock()
	if in.ended {
		in.mu.Unlock()
		return true
	}
	in.received += int64(len(b))
	if in.received > in.allowed {
		in.mu.Unlock()
		return false
	}
	if len(b) > 0 {
		in.queue = append(in.queue, b)
	}
	in.mu.Unlock()
	in.notify()
	return true
}

// end: END from the host, or the request is over; next returns false after the queue.
func (in *input) end() {
	in.mu.Lock()
	in.ended = true
	in.mu.Unlock()
	in.notify()
}

// abort stops at once, dropping what is queued.
func (in *input) abort() {
	in.mu.Lock()
	in.ended = true
	in.stopped = true
	in.queue = nil
	in.mu.Unlock()
	in.notify()
}

// aborted tells an abort from an END.
func (in *input) aborted() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.stopped
}

// next blocks for the next chunk; false once the stream ended.
func (in *input) next() ([]byte, bool) {
	if in.last > 0 {
		in.consume(int64(in.last))
		in.last = 0
	}
	for {
		in.mu.Lock()
		if len(in.queue) > 0 {
			b := in.queue[0]
			in.queue[0] = nil
			in.queue = in.queue[1:]
			in.mu.Unlock()
			in.last = len(b)
			return b, true
		}
		if in.ended {
			in.mu.Unlock()
			return nil, false
		}
		in.mu.Unlock()
		<-in.wake
	}
}

func (in *input) consume(n int64) {
	in.mu.Lock()
	in.unacked += n
	if in.unacked < wire.InitialWindow/4 || in.ended {
		in.mu.Unlock()
		return
	}
	g := in.unacked
	in.unacked = 0
	in.allowed += g
	in.mu.Unlock()
	in.grant(g)
}

// output is the sending side of one stream: bytes go out only within the credit the
// host granted; write blocks (so its caller stops reading its source) until they did.
type output struct {
	mu     sync.Mutex
	cond   *sync.Cond
	credit int64
	closed bool
	send   func([]byte)
}

func newOutput(send func([]byte)) *output {
	o := &output{credit: wire.InitialWindow, send: send}
	o.cond = sync.NewCond(&o.mu)
	return o
}

// write sends b in DATA frames of at most 64 KiB; false when the stream was closed.
func (o *output) write(b []byte) bool {
	for len(b) > 0 {
		o.mu.Lock()
		for o.credit <= 0 && !o.closed {
			o.cond.Wait()
		}
		if o.closed {
			o.mu.Unlock()
			return false
		}
		n := int64(len(b))
		if n > o.credit {
			n = o.credit
		}
		if n > wire.DataChunkSize {
			n = wire.DataChunkSize
		}
		o.credit -= n
		o.mu.Unlock()
		o.send(b[:n])
		b = b[n:]
	}
	return true
}

func (o *output) grant(n int64) {
	o.mu.Lock()
	o.credit += n
	o.cond.Broadcast()
	o.mu.Unlock()
}

func (o *output) close() {
	o.mu.Lock()
	o.closed = true
	o.cond.Broadcast()
	o.mu.Unlock()
}
