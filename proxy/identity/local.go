package identity

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/user"
	"strings"
)

// Local returns a Resolver that identifies every caller as login: one
// person's own gateway, reachable only from their machine. An empty login
// means DefaultLocalLogin().
func Local(login string) Resolver {
	if login == "" {
		login = DefaultLocalLogin()
	}
	id := Identity{Login: login}
	return ResolverFunc(func(*http.Request) (Identity, error) { return id, nil })
}

// DefaultLocalLogin returns the login of local mode when none is given:
// the operating-system user at the host name ("alice@laptop").
func DefaultLocalLogin() string {
	var name string
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if name == "" {
		name = os.Getenv("USER")
	}
	if name == "" {
		name = os.Getenv("USERNAME")
	}
	host, _ := os.Hostname()
	return localLogin(name, host)
}

// localLogin builds the default local login from a user and a host name as
// the operating system reports them.
func localLogin(username, hostname string) string {
	// Windows reports DOMAIN\user.
	if i := strings.LastIndexByte(username, '\\'); i >= 0 {
		username = username[i+1:]
	}
	username = strings.TrimSpace(username)
	if username == "" {
		username = "user"
	}
	hostname = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(hostname), "."))
	if hostname == "" {
		hostname = "localhost"
	}
	return username + "@" + hostname
}

// ErrNonLoopbackListen is returned by CheckListenAddr for an address that
// other machines can reach.
var ErrNonLoopbackListen = errors.New("not a loopback address")

// UnixSocketPath returns the path of a Unix socket listen address
// ("unix:/run/sluice/sluice.sock") and whether addr is one.
func UnixSocketPath(addr string) (path string, ok bool) {
	return strings.CutPrefix(addr, "unix:")
}

// CheckListenAddr checks a listen address ("127.0.0.1:8080", "[::1]:8080",
// "localhost:8080", "unix:PATH") for local mode, where every caller acts as
// the local user: it refuses an address other machines could reach (a
// non-loopback IP, all interfaces, or a host name other than localhost)
// unless insecure is set (--insecure-listen). A Unix socket is reachable
// from this machine only, so any path will do. The error says why;
// errors.Is(err, ErrNonLoopbackListen) tells the refusal from a malformed
// address.
func CheckListenAddr(addr string, insecure bool) error {
	if path, ok := UnixSocketPath(addr); ok {
		if path == "" {
			return fmt.Errorf("listen address %q: unix: needs a socket path (unix:/run/sluice/sluice.sock)", addr)
		}
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if insecure || isLoopbackHost(host) {
		return nil
	}
	where := host
	if host == "" || isUnspecified(host) {
		where = "all network interfaces"
	}
	return fmt.Errorf("refusing to listen on %q (%s) in local mode: %w; "+
		"every caller is identified as the local user, so anyone who can reach it would act as you. "+
		"Listen on 127.0.0.1 or [::1], use --tailnet, or pass --insecure-listen if that is what you want",
		addr, where, ErrNonLoopbackListen)
}

// isLoopbackHost reports whether host, the host part of a listen address,
// is reachable only from this machine.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	return ip.Unmap().IsLoopback()
}

func isUnspecified(host string) bool {
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsUnspecified()
}

// isLoopbackPeer reports whether a request's RemoteAddr is on the loopback
// interface. An address it cannot parse is not.
func isLoopbackPeer(remoteAddr string) bool {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	return ap.Addr().Unmap().IsLoopback()
}
