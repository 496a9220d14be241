package identity

import (
	"bytes"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// TailscaledUID finds the user ID the running tailscaled has, the uid to
// trust identity headers from on a Unix socket: it looks for processes
// named tailscaled in /proc. ok is false when there is none (or no /proc),
// and when several run as different users, since nothing tells which one
// is meant. The answer is only as good as process names are: set the uid
// explicitly where that matters.
func TailscaledUID() (uid uint32, pid int, ok bool) {
	return tailscaledUID(os.DirFS("/proc"))
}

func tailscaledUID(proc fs.FS) (uid uint32, pid int, ok bool) {
	entries, err := fs.ReadDir(proc, ".")
	if err != nil {
		return 0, 0, false
	}
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil || n <= 0 {
			continue
		}
		status, err := fs.ReadFile(proc, e.Name()+"/status")
		if err != nil {
			continue // gone meanwhile, or not ours to read
		}
		name, euid, valid := parseProcStatus(status)
		if !valid || name != "tailscaled" {
			continue
		}
		if ok && euid != uid {
			return 0, 0, false
		}
		uid, ok = euid, true
		if pid == 0 {
			pid = n
		}
	}
	return uid, pid, ok
}

// parseProcStatus reads a process's name and effective uid from the text
// of /proc/PID/status ("Name:\ttailscaled\n", "Uid:\t0\t0\t0\t0\n": real,
// effective, saved and filesystem uids). The effective uid is what
// SO_PEERCRED reports for the process's connections.
func parseProcStatus(status []byte) (name string, euid uint32, ok bool) {
	var haveName, haveUID bool
	for line := range bytes.Lines(status) {
		key, value, found := strings.Cut(strings.TrimRight(string(line), "\n"), ":")
		if !found {
			continue
		}
		switch key {
		case "Name":
			if haveName {
				return "", 0, false
			}
			name, haveName = strings.TrimSpace(value), true
		case "Uid":
			if haveUID {
				return "", 0, false
			}
			f := strings.Fields(value)
			if len(f) != 4 {
				return "", 0, false
			}
			u, err := strconv.ParseUint(f[1], 10, 32)
			if err != nil {
				return "", 0, false
			}
			euid, haveUID = uint32(u), true
		}
	}
	if !haveName || !haveUID {
		return "", 0, false
	}
	return name, euid, true
}
