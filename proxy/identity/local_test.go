package identity

import (
	"errors"
	"net"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestLocal(t *testing.T) {
	tests := []struct {
		name  string
		login string
		want  string
	}{
		{name: "given login", login: "alice@example.com", want: "alice@example.com"},
		{name: "empty login is the OS user at the host", login: "", want: DefaultLocalLogin()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Local(tt.login)
			// Every caller is the same person, wherever they come from.
			for _, remote := range []string{"127.0.0.1:50000", "[::1]:50000", "100.64.0.9:4000", "203.0.113.7:1"} {
				r := httptest.NewRequest("GET", "/v1/models", nil)
				r.RemoteAddr = remote
				r.Header.Set(HeaderUserLogin, "mallory@example.com")
				id, err := res.Identify(r)
				if err != nil {
					t.Fatalf("Identify from %s: %v", remote, err)
				}
				if id.Login != tt.want {
					t.Errorf("Identify from %s: login %q, want %q", remote, id.Login, tt.want)
				}
				if id.NodeID != "" || id.Tailnet != "" || id.Tagged() {
					t.Errorf("Identify from %s: local identity has tailnet fields: %+v", remote, id)
				}
			}
		})
	}
}

func TestLocalLogin(t *testing.T) {
	tests := []struct {
		name, user, host, want string
	}{
		{name: "unix user", user: "alice", host: "laptop", want: "alice@laptop"},
		{name: "windows domain user", user: `CORP\bob`, host: "DESKTOP-1", want: "bob@desktop-1"},
		{name: "fqdn host with trailing dot", user: "carol", host: "build.example.com.", want: "carol@build.example.com"},
		{name: "no user name", user: "", host: "box", want: "user@box"},
		{name: "no host name", user: "dave", host: "", want: "dave@localhost"},
		{name: "surrounding space", user: " erin ", host: " Mac.local ", want: "erin@mac.local"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := localLogin(tt.user, tt.host); got != tt.want {
				t.Errorf("localLogin(%q, %q) = %q, want %q", tt.user, tt.host, got, tt.want)
			}
		})
	}
}

func TestDefaultLocalLogin(t *testing.T) {
	got := DefaultLocalLogin()
	user, host, ok := strings.Cut(got, "@")
	if !ok || user == "" || host == "" || strings.ContainsAny(got, " \\") {
		t.Fatalf("DefaultLocalLogin() = %q, want USER@HOST", got)
	}
}

func TestCheckListenAddr(t *testing.T) {
	tests := []struct {
		name     string
		addr     string
		insecure bool
		wantErr  bool
		refused  bool // errors.Is(err, ErrNonLoopbackListen)
		mention  string
	}{
		{name: "ipv4 loopback", addr: "127.0.0.1:8080"},
		{name: "other ipv4 loopback", addr: "127.0.0.53:8080"},
		{name: "ipv6 loopback", addr: "[::1]:8080"},
		{name: "ipv4-mapped loopback", addr: "[::ffff:127.0.0.1]:8080"},
		{name: "localhost", addr: "localhost:8080"},
		{name: "localhost any case", addr: "LocalHost:0"},
		{name: "all interfaces", addr: ":8080", wantErr: true, refused: true, mention: "all network interfaces"},
		{name: "ipv4 unspecified", addr: "0.0.0.0:8080", wantErr: true, refused: true, mention: "all network interfaces"},
		{name: "ipv6 unspecified", addr: "[::]:8080", wantErr: true, refused: true, mention: "all network interfaces"},
		{name: "lan address", addr: "192.168.1.10:8080", wantErr: true, refused: true, mention: "--insecure-listen"},
		{name: "tailnet address", addr: "100.64.0.1:80", wantErr: true, refused: true, mention: "act as you"},
		{name: "ipv6 link-local", addr: "[fe80::1%eth0]:8080", wantErr: true, refused: true},
		{name: "host name", addr: "gateway.example.com:8080", wantErr: true, refused: true},
		{name: "insecure all interfaces", addr: ":8080", insecure: true},
		{name: "insecure lan address", addr: "192.168.1.10:8080", insecure: true},
		{name: "missing port", addr: "127.0.0.1", wantErr: true},
		{name: "insecure does not excuse a malformed address", addr: "[::1", insecure: true, wantErr: true},
		{name: "unix socket", addr: "unix:/run/sluice/sluice.sock"},
		{name: "relative unix socket", addr: "unix:sluice.sock"},
		{name: "unix socket without a path", addr: "unix:", wantErr: true, mention: "socket path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckListenAddr(tt.addr, tt.insecure)
			if (err != nil) != tt.wantErr {
				t.Fatalf("CheckListenAddr(%q, %v) = %v, want error %v", tt.addr, tt.insecure, err, tt.wantErr)
			}
			if err == nil {
				return
			}
			if got := errors.Is(err, ErrNonLoopbackListen); got != tt.refused {
				t.Errorf("errors.Is(%v, ErrNonLoopbackListen) = %v, want %v", err, got, tt.refused)
			}
			if !strings.Contains(err.Error(), tt.addr) {
				t.Errorf("error %q does not name the address %q", err, tt.addr)
			}
			if tt.mention != "" && !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not say %q", err, tt.mention)
			}
		})
	}
}

// FuzzCheckListenAddr checks that an address accepted without
// --insecure-listen is one only this machine can reach.
func FuzzCheckListenAddr(f *testing.F) {
	for _, seed := range []string{"127.0.0.1:8080", "[::1]:0", ":8080", "0.0.0.0:1", "localhost:80", "[::ffff:127.0.0.1]:1", "[fe80::1%lo]:2", "x:y:z", "", "unix:/tmp/s.sock", "unix:"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		err := CheckListenAddr(addr, false)
		if err != nil {
			return
		}
		if path, ok := UnixSocketPath(addr); ok {
			if path == "" {
				t.Fatalf("accepted %q, a Unix socket without a path", addr)
			}
			return
		}
		host, _, splitErr := net.SplitHostPort(addr)
		if splitErr != nil {
			t.Fatalf("accepted malformed address %q", addr)
		}
		if strings.EqualFold(host, "localhost") {
			return
		}
		ip, perr := netip.ParseAddr(host)
		if perr != nil || !ip.Unmap().IsLoopback() {
			t.Fatalf("accepted %q, which is not loopback", addr)
		}
		if CheckListenAddr(addr, true) != nil {
			t.Fatalf("--insecure-listen refused %q, which is accepted without it", addr)
		}
	})
}
