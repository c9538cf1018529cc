package agent

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ParseOSRelease reads KEY=value lines, values optionally quoted (os-release(5)).
func ParseOSRelease(text string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		key, value, ok := strings.Cut(line, "=")
		if !ok || !validKey(key) {
			continue
		}
		if n := len(value); n >= 2 && (value[0] == '"' || value[0] == '\'') && value[n-1] == value[0] {
			q := value[0]
			value = value[1 : n-1]
			if q == '"' {
				value = unescapeDouble(value)
			}
		}
		out[key] = value
	}
	return out
}

func validKey(k string) bool {
	if k == "" {
		return false
	}
	for i, c := range k {
		letter := c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func unescapeDouble(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\`$", s[i+1]) >= 0 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func readFirst(files []string) string {
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			return string(b)
		}
	}
	return ""
}

func meminfo() map[string]int64 {
	out := map[string]int64{}
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		key, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err == nil {
			out[key] = n * 1024
		}
	}
	return out
}

// cpuCount counts the "cpuN" lines of /proc/stat (online CPUs, as Node's os.cpus()).
func cpuCount() int {
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		n := 0
		for _, line := range strings.Split(string(b), "\n") {
			if len(line) > 3 && line[:3] == "cpu" && line[3] >= '0' && line[3] <= '9' {
				n++
			}
		}
		if n > 0 {
			return n
		}
	}
	return runtime.NumCPU()
}

// countZombies counts zombie children of this process (state Z, our pid as parent).
func countZombies() int {
	d, err := os.Open("/proc")
	if err != nil {
		return 0
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	me := strconv.Itoa(os.Getpid())
	n := 0
	for _, name := range names {
		if name == "" || name[0] < '0' || name[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + name + "/stat")
		if err != nil {
			continue
		}
		// The command may contain spaces and parentheses; fields resume after the last ")".
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) >= 2 && f[0] == "Z" && f[1] == me {
			n++
		}
	}
	return n
}

func utsString(b [65]int8) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return string(out)
}

// nodeArch is runtime.GOARCH in Node's spelling (os.arch()), which the client shows.
func nodeArch() string {
	if runtime.GOARCH == "amd64" {
		return "x64"
	}
	return runtime.GOARCH
}

type agentInfo struct {
	Version     string          `json:"version"`
	Protocol    protocolVersion `json:"protocol"`
	Runtime     string          `json:"runtime"`
	Pid         int             `json:"pid"`
	Pid1        bool            `json:"pid1"`
	UptimeS     float64         `json:"uptimeS"`
	Requests    int             `json:"requests"`
	Connections int             `json:"connections"`
	Orphans     uint64          `json:"orphansReaped"`
}

type kernelInfo struct {
	Release string `json:"release"`
	Version string `json:"version"`
	Arch    string `json:"arch"`
}

type memInfo struct {
	TotalBytes     int64 `json:"totalBytes"`
	FreeBytes      int64 `json:"freeBytes"`
	AvailableBytes int64 `json:"availableBytes"`
}

type infoResponse struct {
	Agent     agentInfo         `json:"agent"`
	Hostname  string            `json:"hostname"`
	Kernel    kernelInfo        `json:"kernel"`
	UptimeS   float64           `json:"uptimeS"`
	CPUs      int               `json:"cpus"`
	Memory    memInfo           `json:"memory"`
	Loadavg   []float64         `json:"loadavg"`
	OSRelease map[string]string `json:"osRelease"`
	Zombies   int               `json:"zombies"`
}

var orphans = func() uint64 { return 0 }

// SetOrphanCounter tells info where to read the count of reaped orphans.
func SetOrphanCounter(fn func() uint64) { orphans = fn }

func runInfo(ag *Agent, _ *request, _ interface{}) (interface{}, error) {
	var uts syscall.Utsname
	_ = syscall.Uname(&uts)
	hostname, _ := os.Hostname()
	mem := meminfo()
	free := mem["MemFree"]
	avail, ok := mem["MemAvailable"]
	if !ok {
		avail = free
	}
	var uptime float64
	if b, err := os.ReadFile("/proc/uptime"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			uptime, _ = strconv.ParseFloat(f[0], 64)
		}
	}
	load := []float64{0, 0, 0}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		for i, f := range strings.Fields(string(b)) {
			if i >= 3 {
				break
			}
			load[i], _ = strconv.ParseFloat(f, 64)
		}
	}
	pid := os.Getpid()
	return infoResponse{
		Agent: agentInfo{
			Version: ag.Version, Protocol: ourProtocol, Runtime: runtime.Version(), Pid: pid,
			Pid1: pid == 1, UptimeS: time.Since(ag.started).Seconds(),
			// Not counting this info request itself.
			Requests: ag.Requests() - 1, Connections: ag.Connections(), Orphans: orphans(),
		},
		Hostname:  hostname,
		Kernel:    kernelInfo{utsString(uts.Release), utsString(uts.Version), nodeArch()},
		UptimeS:   uptime,
		CPUs:      cpuCount(),
		Memory:    memInfo{TotalBytes: mem["MemTotal"], FreeBytes: free, AvailableBytes: avail},
		Loadavg:   load,
		OSRelease: ParseOSRelease(readFirst(ag.OSReleaseFiles)),
		Zombies:   countZombies(),
	}, nil
}
