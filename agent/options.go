package main

import (
	"errors"
	"strconv"
	"strings"

	"plinth/agent/internal/transport"
)

type transportKind int

const (
	virtio transportKind = iota
	unix
	vsock
	stdio
)

type options struct {
	kind transportKind
	// path of the virtio port or Unix socket; port of vsock.
	path  string
	port  uint32
	pid1  string
	init  bool
	quiet bool
	help  bool
	ver   bool
}

const usage = `Usage: plinth-agent [--port PATH | --vsock PORT | --listen-unix PATH | --stdio] [--quiet]

  --port PATH         virtio-serial port to serve (default ` + transport.DefaultPort + `;
                      env PLINTH_AGENT_PORT); found by name in /sys without udev
  --vsock PORT        listen on AF_VSOCK port PORT (env PLINTH_AGENT_VSOCK)
  --listen-unix PATH  listen on a Unix socket (env PLINTH_AGENT_LISTEN_UNIX)
  --stdio             serve one connection on stdin/stdout, exit when it ends
  --init              do PID 1's boot steps (mounts, modules, sysctl, hostname,
                      guest config, sshd) even when not PID 1
  --pid1 warn|quiet   accepted for compatibility (env PLINTH_AGENT_PID1); the agent
                      reaps orphans itself, so there is nothing to warn about
  --quiet             no log lines on stderr
  --version, --help`

// parseOptions reads argv, then the environment, like the TypeScript agent did.
func parseOptions(argv []string, getenv func(string) string) (options, error) {
	o := options{}
	var port, listen, vsockPort *string
	stdioSet := false
	takes := map[string]bool{"port": true, "listen-unix": true, "vsock": true, "pid1": true}
	for i := 0; i < len(argv); i++ {
		arg := argv[i]
		if arg == "-h" {
			o.help = true
			continue
		}
		if !strings.HasPrefix(arg, "--") || arg == "--" {
			return o, errors.New("unexpected argument '" + arg + "'")
		}
		name, value, hasValue := strings.Cut(arg[2:], "=")
		if takes[name] {
			if !hasValue {
				if i+1 >= len(argv) || strings.HasPrefix(argv[i+1], "--") {
					return o, errors.New("option '--" + name + " <value>' argument missing")
				}
				i++
				value = argv[i]
			}
			v := value
			switch name {
			case "port":
				port = &v
			case "listen-unix":
				listen = &v
			case "vsock":
				vsockPort = &v
			case "pid1":
				o.pid1 = v
			}
			continue
		}
		if hasValue {
			return o, errors.New("option '--" + name + "' does not take an argument")
		}
		switch name {
		case "stdio":
			stdioSet = true
		case "init":
			o.init = true
		case "quiet":
			o.quiet = true
		case "help":
			o.help = true
		case "version":
			o.ver = true
		default:
			return o, errors.New("unknown option '" + arg + "'")
		}
	}
	chosen := 0
	for _, set := range []bool{port != nil, listen != nil, vsockPort != nil, stdioSet} {
		if set {
			chosen++
		}
	}
	if chosen > 1 {
		return o, errors.New("choose one of --port, --vsock, --listen-unix and --stdio")
	}
	if o.pid1 == "" {
		o.pid1 = getenv("PLINTH_AGENT_PID1")
	}
	if o.pid1 == "" {
		o.pid1 = "warn"
	}
	if o.pid1 != "warn" && o.pid1 != "quiet" {
		return o, errors.New("--pid1 must be warn or quiet")
	}
	if vsockPort == nil && chosen == 0 && getenv("PLINTH_AGENT_LISTEN_UNIX") == "" {
		if v := getenv("PLINTH_AGENT_VSOCK"); v != "" {
			vsockPort = &v
		}
	}
	switch {
	case stdioSet:
		o.kind = stdio
	case listen != nil:
		o.kind, o.path = unix, *listen
	case port != nil:
		o.kind, o.path = virtio, *port
	case vsockPort != nil:
		n, err := strconv.ParseUint(*vsockPort, 10, 32)
		if err != nil {
			return o, errors.New("--vsock needs a port number, got '" + *vsockPort + "'")
		}
		o.kind, o.port = vsock, uint32(n)
	case getenv("PLINTH_AGENT_LISTEN_UNIX") != "":
		o.kind, o.path = unix, getenv("PLINTH_AGENT_LISTEN_UNIX")
	default:
		o.kind, o.path = virtio, getenv("PLINTH_AGENT_PORT")
		if o.path == "" {
			o.path = transport.DefaultPort
		}
	}
	if (o.kind == unix || o.kind == virtio) && o.path == "" {
		return o, errors.New("the path must not be empty")
	}
	return o, nil
}
