package main

import (
	"testing"

	"plinth/agent/internal/transport"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestOptions(t *testing.T) {
	cases := []struct {
		argv []string
		env  map[string]string
		want options
	}{
		{nil, nil, options{kind: virtio, path: transport.DefaultPort, pid1: "warn"}},
		{nil, map[string]string{"PLINTH_AGENT_PORT": "/dev/vport1p1"}, options{kind: virtio, path: "/dev/vport1p1", pid1: "warn"}},
		{[]string{"--port", "/x"}, map[string]string{"PLINTH_AGENT_LISTEN_UNIX": "/s"}, options{kind: virtio, path: "/x", pid1: "warn"}},
		{[]string{"--port=/y"}, nil, options{kind: virtio, path: "/y", pid1: "warn"}},
		{nil, map[string]string{"PLINTH_AGENT_LISTEN_UNIX": "/s"}, options{kind: unix, path: "/s", pid1: "warn"}},
		{[]string{"--stdio", "--pid1", "quiet"}, nil, options{kind: stdio, pid1: "quiet"}},
		{[]string{"--vsock", "5000", "--quiet", "--init"}, nil, options{kind: vsock, port: 5000, pid1: "warn", quiet: true, init: true}},
		{nil, map[string]string{"PLINTH_AGENT_VSOCK": "52"}, options{kind: vsock, port: 52, pid1: "warn"}},
		{nil, map[string]string{"PLINTH_AGENT_PID1": "quiet"}, options{kind: virtio, path: transport.DefaultPort, pid1: "quiet"}},
		{[]string{"--version"}, nil, options{kind: virtio, path: transport.DefaultPort, pid1: "warn", ver: true}},
	}
	for _, c := range cases {
		got, err := parseOptions(c.argv, env(c.env))
		if err != nil || got != c.want {
			t.Errorf("%v %v: %+v %v, want %+v", c.argv, c.env, got, err, c.want)
		}
	}
}

func TestOptionErrors(t *testing.T) {
	for _, argv := range [][]string{
		{"--stdio", "--port", "/x"}, {"--bogus"}, {"--pid1", "maybe"}, {"--port"},
		{"--vsock", "nope"}, {"--stdio=yes"}, {"positional"}, {"--listen-unix", "/a", "--vsock", "1"},
	} {
		if _, err := parseOptions(argv, env(nil)); err == nil {
			t.Errorf("%v accepted", argv)
		}
	}
}
