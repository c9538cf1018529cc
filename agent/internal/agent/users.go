package agent

import (
	"os"
	"strconv"
	"strings"
)

type account struct {
	uid, gid uint32
	name     string
	home     string
	shell    string
	named    bool
}

type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

func parseID(s string) (uint32, bool) {
	if s == "" || len(s) > 10 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err == nil
}

// dbEntries are the lines of a passwd or group file, split at ':', that have at least
// `min` fields and a name (comments and blank lines skipped).
func dbEntries(text string, min int) [][]string {
	var out [][]string
	for _, line := range strings.Split(text, "\n") {
		f := strings.Split(line, ":")
		if len(f) >= min && f[0] != "" && !strings.HasPrefix(f[0], "#") {
			out = append(out, f)
		}
	}
	return out
}

func parsePasswd(text string) []account {
	var out []account
	for _, f := range dbEntries(text, 4) {
		uid, ok1 := parseID(f[2])
		gid, ok2 := parseID(f[3])
		if !ok1 || !ok2 {
			continue
		}
		a := account{uid: uid, gid: gid, name: f[0], named: true}
		if len(f) > 5 {
			a.home = f[5]
		}
		if len(f) > 6 {
			a.shell = f[6]
		}
		out = append(out, a)
	}
	return out
}

func parseGroup(text string) []groupEntry {
	var out []groupEntry
	for _, f := range dbEntries(text, 3) {
		gid, ok := parseID(f[2])
		if !ok {
			continue
		}
		g := groupEntry{name: f[0], gid: gid}
		if len(f) > 3 && f[3] != "" {
			g.members = strings.Split(f[3], ",")
		}
		out = append(out, g)
	}
	return out
}

func readOptional(file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return "" // a minimal image may have no /etc/passwd; numeric ids still work
	}
	return string(b)
}

// resolveUser finds a user by name or uid in the passwd file. A numeric uid without an
// entry is allowed and runs with gid = uid.
func (a *Agent) resolveUser(user interface{}) (account, error) {
	accounts := parsePasswd(readOptional(a.PasswdFile))
	var name string
	switch u := user.(type) {
	case int64:
		name = strconv.FormatInt(u, 10)
	case string:
		name = u
	}
	if uid, ok := parseID(name); ok {
		for _, acc := range accounts {
			if acc.uid == uid {
				return acc, nil
			}
		}
		return account{uid: uid, gid: uid}, nil
	}
	for _, acc := range accounts {
		if acc.name == name {
			return acc, nil
		}
	}
	return account{}, opError(codeUnknownUser, `no user "`+name+`" in `+a.PasswdFile)
}

// groupsOf lists the supplementary groups of a named user (as initgroups would).
func (a *Agent) groupsOf(acc account) []uint32 {
	groups := []uint32{}
	if !acc.named {
		return groups
	}
	for _, g := range parseGroup(readOptional(a.GroupFile)) {
		if g.gid == acc.gid {
			continue
		}
		for _, m := range g.members {
			if m == acc.name {
				groups = append(groups, g.gid)
				break
			}
		}
	}
	return groups
}

// resolveOwner turns "user", "user:group", "uid:gid" or a uid into ids; the group
// defaults to the user's.
func (a *Agent) resolveOwner(owner interface{}) (uint32, uint32, error) {
	var user, group string
	hasGroup := false
	switch o := owner.(type) {
	case int64:
		user = strconv.FormatInt(o, 10)
	case string:
		user, group, hasGroup = strings.Cut(o, ":")
		if hasGroup {
			// "a:b:c" → group "b", as String.split(":", 2) would give
			group, _, _ = strings.Cut(group, ":")
		}
	}
	if user == "" {
		user = "0"
	}
	acc, err := a.resolveUser(user)
	if err != nil {
		return 0, 0, err
	}
	if group == "" {
		return acc.uid, acc.gid, nil
	}
	if gid, ok := parseID(group); ok {
		return acc.uid, gid, nil
	}
	for _, g := range parseGroup(readOptional(a.GroupFile)) {
		if g.name == group {
			return acc.uid, g.gid, nil
		}
	}
	return 0, 0, opError(codeUnknownGroup, `no group "`+group+`" in `+a.GroupFile)
}
