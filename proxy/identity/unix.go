package identity

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// SocketMode is the permission of the socket file ListenUnix creates: its
// owner and group may connect, nobody else (tailscaled as root connects
// whatever the mode).
const SocketMode fs.FileMode = 0o660

// Peer is the process at the other end of a Unix-socket connection, as the
// kernel reported it (SO_PEERCRED) when sluice accepted the connection:
// the credentials it had when it connected, which it cannot change later.
type Peer struct {
	PID int32
	UID uint32
	GID uint32
}

// ErrNoPeerCredentials means the system did not tell who is at the other
// end of a Unix-socket connection (SO_PEERCRED is Linux's); such a peer
// is never trusted with identity headers.
var ErrNoPeerCredentials = errors.New("peer credentials are not available")

// UnixListener accepts connections on a Unix socket and reads each peer's
// credentials as it accepts it. Serve it with an http.Server whose
// ConnContext is ConnContext, so TrustedHeaders can check them.
type UnixListener struct {
	ln   *net.UnixListener
	path string
	file os.FileInfo // the socket file ListenUnix made, to remove only that

	closeOnce sync.Once
	closeErr  error
}

var _ net.Listener = (*UnixListener)(nil)

// ListenUnix listens on a Unix socket at path, for `tailscale serve --bg
// unix:PATH` to proxy to. The socket file has SocketMode from the moment
// it appears at path: it is bound in a private directory beside path,
// given its mode, and renamed into place. A socket file left at path by a
// process that is gone is replaced; a socket something still accepts
// connections on, or a file that is not a socket, is an error. Close
// removes the socket file, if it is still the one ListenUnix made.
func ListenUnix(path string) (*UnixListener, error) {
	if path == "" {
		return nil, errors.New("unix socket: empty path")
	}
	if err := checkStale(path); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(path), ".sluice")
	if err != nil {
		return nil, fmt.Errorf("unix socket %s: %w", path, err)
	}
	defer os.RemoveAll(tmp)
	bound := filepath.Join(tmp, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: bound, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("unix socket %s: %w", path, err)
	}
	// The file moves; its removal is Close's job, at its final path.
	ln.SetUnlinkOnClose(false)
	fail := func(err error) (*UnixListener, error) {
		ln.Close()
		return nil, fmt.Errorf("unix socket %s: %w", path, err)
	}
	if err := os.Chmod(bound, SocketMode); err != nil {
		return fail(err)
	}
	if err := os.Rename(bound, path); err != nil {
		return fail(err)
	}
	file, err := os.Lstat(path)
	if err != nil {
		return fail(err)
	}
	return &UnixListener{ln: ln, path: path, file: file}, nil
}

// checkStale checks that path is free to take: nothing there, or a socket
// nobody accepts connections on.
func checkStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("unix socket %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("unix socket %s: a file that is not a socket is in the way; refusing to replace it", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("unix socket %s: something is listening on it already (another sluice?)", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("unix socket %s: cannot tell whether it is in use: %w", path, err)
	}
	return nil // stale: left by a process that is gone
}

// Accept waits for the next connection and reads its peer's credentials.
// A connection whose credentials cannot be read is still served; its
// identity headers are refused.
func (l *UnixListener) Accept() (net.Conn, error) {
	c, err := l.ln.AcceptUnix()
	if err != nil {
		return nil, err
	}
	p, err := peerCredentials(c)
	return &peerConn{UnixConn: c, peer: connPeer{peer: p, err: err}}, nil
}

// Close stops listening and removes the socket file.
func (l *UnixListener) Close() error {
	l.closeOnce.Do(func() {
		l.closeErr = l.ln.Close()
		if fi, err := os.Lstat(l.path); err == nil && os.SameFile(fi, l.file) {
			if err := os.Remove(l.path); err != nil && l.closeErr == nil {
				l.closeErr = err
			}
		}
	})
	return l.closeErr
}

// Addr is the socket's address: its final path.
func (l *UnixListener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "unix"} }

// Path is the socket file's path.
func (l *UnixListener) Path() string { return l.path }

// peerConn is a connection accepted by a UnixListener, with its peer.
type peerConn struct {
	*net.UnixConn
	peer connPeer
}

type connPeer struct {
	peer Peer
	err  error
}

type peerKey struct{}

// ConnContext is meant for http.Server.ConnContext: it puts the peer
// credentials of a connection accepted by a UnixListener into the
// connection's context, where PeerFromContext (and TrustedHeaders) find
// them. Other connections' contexts are returned unchanged.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if pc, ok := c.(*peerConn); ok {
		return context.WithValue(ctx, peerKey{}, pc.peer)
	}
	return ctx
}

// PeerFromContext returns the peer of the Unix-socket connection a request
// came on. unix is false when it did not come through a UnixListener
// served with ConnContext; err is set when it did but the peer's
// credentials are unknown.
func PeerFromContext(ctx context.Context) (p Peer, unix bool, err error) {
	cp, ok := ctx.Value(peerKey{}).(connPeer)
	if !ok {
		return Peer{}, false, nil
	}
	return cp.peer, true, cp.err
}

// peerName names a request's peer in messages.
func peerName(r *http.Request) string {
	p, unix, err := PeerFromContext(r.Context())
	switch {
	case unix && err != nil:
		return "a Unix socket peer"
	case unix:
		return fmt.Sprintf("Unix socket peer uid %d (pid %d)", p.UID, p.PID)
	default:
		return r.RemoteAddr
	}
}
