package agent

import (
	"encoding/json"
	"strconv"
	"time"
)

// opSpec is one operation: parse checks its arguments (without side effects, so the
// request parser can be fuzzed), run does it. What run returns becomes the RESPONSE,
// its error the ERROR.
type opSpec struct {
	parse func(a args) (interface{}, error)
	run   func(ag *Agent, r *request, params interface{}) (interface{}, error)
	// inline ops are quick and never block: they run on the reader goroutine.
	inline bool
}

var ops map[string]*opSpec

// opOrder is the order of capabilities in hello.
var opOrder = []string{
	"ping", "info", "exec", "file.read", "file.write", "file.list", "file.stat",
	"file.mkdir", "file.remove", "file.rename", "shutdown", "exec.resize", "identity",
}

// features are capabilities that are not operations: exec takes `pty`.
var features = []string{"exec.pty"}

func init() {
	ops = map[string]*opSpec{
		"ping":        {parse: noArgs, run: runPing, inline: true},
		"info":        {parse: noArgs, run: runInfo},
		"exec":        {parse: parseExec, run: runExec},
		"exec.resize": {parse: parseResize, run: runResize, inline: true},
		"file.read":   {parse: parseFileRead, run: runFileRead},
		"file.write":  {parse: parseFileWrite, run: runFileWrite},
		"file.list":   {parse: parsePathOnly, run: runFileList},
		"file.stat":   {parse: parseFileStat, run: runFileStat},
		"file.mkdir":  {parse: parseMkdir, run: runMkdir},
		"file.remove": {parse: parseRemove, run: runRemove},
		"file.rename": {parse: parseRename, run: runRename},
		"shutdown":    {parse: parseShutdown, run: runShutdown},
		"identity":    {parse: parseIdentity, run: runIdentity},
	}
}

// Capabilities lists what hello announces: "hello", every operation, then features.
func Capabilities() []string {
	out := append([]string{"hello"}, opOrder...)
	return append(out, features...)
}

// parseRequest finds the operation of a request body and checks its arguments.
func parseRequest(body map[string]interface{}) (string, *opSpec, interface{}, error) {
	op, _ := body["op"].(string)
	spec := ops[op]
	if _, isString := body["op"].(string); !isString || spec == nil {
		shown := "undefined"
		if v, ok := body["op"]; ok {
			b, _ := json.Marshal(v)
			shown = string(b)
		}
		return "", nil, nil, opError(codeUnknownOp, "unknown op "+shown)
	}
	params, err := spec.parse(args(body))
	if err != nil {
		return "", nil, nil, err
	}
	return op, spec, params, nil
}

// ParseRequest parses a REQUEST payload as the agent does (for tests and fuzzing):
// the operation, or the error the agent would answer with.
func ParseRequest(payload []byte) (string, error) {
	body, err := parseObject(payload)
	if err != nil {
		return "", badRequest("bad JSON: " + err.Error())
	}
	if op, _ := body["op"].(string); op == "hello" {
		if _, ok := asVersion(body["protocol"]); !ok {
			return "", badRequest("hello needs protocol: {major, minor}")
		}
		return "hello", nil
	}
	op, _, _, err := parseRequest(body)
	return op, err
}

func noArgs(args) (interface{}, error) { return nil, nil }

func runPing(ag *Agent, _ *request, _ interface{}) (interface{}, error) {
	return map[string]int64{"uptimeMs": time.Since(ag.started).Milliseconds()}, nil
}

type resizeParams struct {
	id         uint32
	rows, cols uint16
}

func parseResize(a args) (interface{}, error) {
	id, ok, err := a.optInt("id", 1, 0xffffffff)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, badRequest(`"id" is required`)
	}
	rows, cols, err := parseSize(a)
	if err != nil {
		return nil, err
	}
	return resizeParams{uint32(id), rows, cols}, nil
}

func parseSize(a args) (uint16, uint16, error) {
	rows, okR, err := a.optInt("rows", 1, 0xffff)
	if err != nil {
		return 0, 0, err
	}
	cols, okC, err := a.optInt("cols", 1, 0xffff)
	if err != nil {
		return 0, 0, err
	}
	if !okR {
		rows = 24
	}
	if !okC {
		cols = 80
	}
	return uint16(rows), uint16(cols), nil
}

func runResize(_ *Agent, r *request, params interface{}) (interface{}, error) {
	p := params.(resizeParams)
	target := r.c.get(p.id)
	if target == nil || target.op != "exec" {
		return nil, opError(codeNotRunning, "no exec "+strconv.Itoa(int(p.id))+" is running in this session")
	}
	if err := target.resize(p.rows, p.cols); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func parseShutdown(a args) (interface{}, error) {
	action, ok, err := a.optEnum("action", "poweroff", "reboot")
	if err != nil {
		return nil, err
	}
	if !ok {
		action = "poweroff"
	}
	return action, nil
}

// runShutdown replies first and powers off once the reply is out: after that no reply
// could get out.
func runShutdown(ag *Agent, r *request, params interface{}) (interface{}, error) {
	action := params.(string)
	r.mu.Lock()
	r.afterResponse = func() { go ag.PowerOff(action) }
	r.mu.Unlock()
	return map[string]string{"action": action}, nil
}
