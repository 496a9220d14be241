//go:build unix

package main

import "syscall"

// openFilesLimit is the process's limit on open file descriptors (soft,
// and hard). The Go runtime raises the soft limit to the hard one at
// start (since Go 1.19), so a server needs nothing more; what is left
// is to say the figure, since each HTTP/1.1 stream holds two descriptors
// (the client's connection and the provider's).
func openFilesLimit() (soft, hard uint64, ok bool) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, 0, false
	}
	return uint64(l.Cur), uint64(l.Max), true
}
