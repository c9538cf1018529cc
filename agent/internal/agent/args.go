package agent

import (
	"math"
	"path"
	"sort"
	"strconv"
	"strings"
)

// args is a request's JSON object. Its accessors return BAD_REQUEST for anything other
// than what an operation expects; the messages are those of the TypeScript agent.
type args map[string]interface{}

const maxSafeInteger = 1<<53 - 1

func (a args) present(key string) bool {
	v, ok := a[key]
	return ok && v != nil
}

func (a args) str(key string) (string, error) {
	v, ok, err := a.optStr(key)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", badRequest(`"` + key + `" is required`)
	}
	return v, nil
}

func (a args) optStr(key string) (string, bool, error) {
	if !a.present(key) {
		return "", false, nil
	}
	s, ok := a[key].(string)
	if !ok {
		return "", false, badRequest(`"` + key + `" must be a string`)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return "", false, badRequest(`"` + key + `" must not contain NUL`)
	}
	return s, true, nil
}

func (a args) optInt(key string, min, max int64) (int64, bool, error) {
	if !a.present(key) {
		return 0, false, nil
	}
	f, ok := a[key].(float64)
	if !ok || f != math.Trunc(f) || f < float64(min) || f > float64(max) {
		return 0, false, badRequest(`"` + key + `" must be an integer from ` +
			strconv.FormatInt(min, 10) + " to " + strconv.FormatInt(max, 10))
	}
	return int64(f), true, nil
}

func (a args) optBool(key string) (bool, error) {
	if !a.present(key) {
		return false, nil
	}
	b, ok := a[key].(bool)
	if !ok {
		return false, badRequest(`"` + key + `" must be a boolean`)
	}
	return b, nil
}

func (a args) optStrings(key string) ([]string, bool, error) {
	if !a.present(key) {
		return nil, false, nil
	}
	list, ok := a[key].([]interface{})
	bad := badRequest(`"` + key + `" must be an array of strings`)
	if !ok {
		return nil, false, bad
	}
	out := make([]string, len(list))
	for i, v := range list {
		s, ok := v.(string)
		if !ok || strings.IndexByte(s, 0) >= 0 {
			return nil, false, bad
		}
		out[i] = s
	}
	return out, true, nil
}

// optEnv is a string record, in key order (JSON objects have no order Go keeps).
func (a args) optEnv(key string) ([][2]string, error) {
	if !a.present(key) {
		return nil, nil
	}
	m, ok := a[key].(map[string]interface{})
	if !ok {
		return nil, badRequest(`"` + key + `" must be an object`)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([][2]string, 0, len(m))
	for _, k := range keys {
		s, ok := m[k].(string)
		if !ok || k == "" || strings.ContainsAny(k, "=\x00") || strings.IndexByte(s, 0) >= 0 {
			return nil, badRequest(`"` + key + "." + k + `" must be a string (and the name without "=")`)
		}
		out = append(out, [2]string{k, s})
	}
	return out, nil
}

// optID is a user or owner: a name, a numeric id, or "user:group" (string or number).
func (a args) optID(key string) (interface{}, error) {
	if _, isNum := a[key].(float64); isNum {
		n, _, err := a.optInt(key, 0, 0xffffffff)
		if err != nil {
			return nil, err
		}
		return n, nil
	}
	s, ok, err := a.optStr(key)
	if err != nil || !ok {
		return nil, err
	}
	return s, nil
}

// path is an absolute path, cleaned; relative paths mean nothing to the agent.
func (a args) path(key string) (string, error) {
	v, err := a.str(key)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(v, "/") {
		return "", badRequest(`"` + key + `" must be an absolute path, got "` + v + `"`)
	}
	return path.Clean(v), nil
}

func (a args) optPath(key string) (string, bool, error) {
	if !a.present(key) {
		return "", false, nil
	}
	p, err := a.path(key)
	return p, err == nil, err
}

func (a args) optMode(key string) (uint32, bool, error) {
	m, ok, err := a.optInt(key, 0, 0o7777)
	return uint32(m), ok, err
}

func (a args) optEnum(key string, values ...string) (string, bool, error) {
	v, ok, err := a.optStr(key)
	if err != nil || !ok {
		return "", false, err
	}
	for _, x := range values {
		if v == x {
			return v, true, nil
		}
	}
	return "", false, badRequest(`"` + key + `" must be one of ` + strings.Join(values, ", "))
}
