//go:build !linux

package identity

import (
	"fmt"
	"net"
	"runtime"
)

// peerCredentials reports that this system's peer credentials are not
// read: SO_PEERCRED is Linux's. Identity headers over a Unix socket are
// then refused; local mode on a Unix socket still works.
func peerCredentials(*net.UnixConn) (Peer, error) {
	return Peer{}, fmt.Errorf("%w on %s", ErrNoPeerCredentials, runtime.GOOS)
}
