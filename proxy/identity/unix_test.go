package identity

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"
)

// serveUnix serves handler on a Unix socket in a temporary directory, as
// `sluice serve --listen unix:PATH` does, and returns a client that dials
// it.
func serveUnix(t *testing.T, handler http.Handler) (*UnixListener, *http.Client) {
	t.Helper()
	ln, err := ListenUnix(filepath.Join(t.TempDir(), "sluice.sock"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler, ConnContext: ConnContext}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", ln.Path())
		},
	}}
	t.Cleanup(client.CloseIdleConnections)
	return ln, client
}

// TestUnixSocketTrustsOnlyThePeerUID sends requests with identity headers
// over a real Unix socket from this process: they are taken when the
// trusted uid is this process's, and refused when it is another.
func TestUnixSocketTrustsOnlyThePeerUID(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("peer credentials are read on Linux only")
	}
	me := uint32(os.Getuid())
	tests := []struct {
		name     string
		peerUID  uint32
		login    string
		wantCode int
		wantBody string
	}{
		{name: "own uid trusted, login taken", peerUID: me, login: "alice@example.com", wantCode: 200, wantBody: "alice@example.com"},
		{name: "own uid trusted, no login", peerUID: me, wantCode: 401, wantBody: "caller could not be identified"},
		{name: "other uid, login refused", peerUID: me + 1, login: "admin@example.com", wantCode: 403, wantBody: "not the trusted peer uid"},
		{name: "other uid, no login", peerUID: me + 1, wantCode: 401, wantBody: "caller could not be identified"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logged bytes.Buffer
			res := TrustedHeaders(HeaderTrust{PeerUID: tt.peerUID, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
			_, client := serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				id, err := res.Identify(r)
				switch {
				case errors.Is(err, ErrUntrustedHeaders):
					http.Error(w, err.Error(), http.StatusForbidden)
				case err != nil:
					http.Error(w, err.Error(), http.StatusUnauthorized)
				default:
					io.WriteString(w, id.Login)
				}
			}))
			req, _ := http.NewRequest(http.MethodGet, "http://sluice/v1/models", nil)
			if tt.login != "" {
				req.Header.Set(HeaderUserLogin, tt.login)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantCode || !strings.Contains(string(body), tt.wantBody) {
				t.Fatalf("status %d, body %q; want %d with %q", resp.StatusCode, body, tt.wantCode, tt.wantBody)
			}
			if refused := tt.wantCode == 403; refused != strings.Contains(logged.String(), "refused identity headers") {
				t.Errorf("refused %v, but the log says %q", refused, logged.String())
			}
		})
	}
}

// TestUnixSocketPeer: the credentials a handler sees are this process's.
func TestUnixSocketPeer(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("peer credentials are read on Linux only")
	}
	got := make(chan Peer, 1)
	_, client := serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, unix, err := PeerFromContext(r.Context())
		if !unix || err != nil {
			t.Errorf("PeerFromContext = %+v, %v, %v", p, unix, err)
		}
		got <- p
	}))
	resp, err := client.Get("http://sluice/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	p := <-got
	if p.UID != uint32(os.Getuid()) || p.GID != uint32(os.Getgid()) || int(p.PID) != os.Getpid() {
		t.Errorf("peer %+v, want uid %d gid %d pid %d", p, os.Getuid(), os.Getgid(), os.Getpid())
	}
}

// TestListenUnixSocketFile: the socket can be connected to by its owner and
// group only, and is gone after Close.
func TestListenUnixSocketFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sluice.sock")
	ln, err := ListenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != SocketMode || fi.Mode().Perm()&0o007 != 0 {
		t.Errorf("socket file mode %v, want a socket with %v", fi.Mode(), SocketMode)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want the socket alone", len(entries))
	}
	if ln.Addr().String() != path {
		t.Errorf("Addr = %q, want %q", ln.Addr(), path)
	}
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket file still there after Close: %v", err)
	}
	if err := ln.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestListenUnixInTheWay: a socket left by a process that is gone is
// replaced; a socket in use, or a file that is not a socket, is left alone.
func TestListenUnixInTheWay(t *testing.T) {
	t.Run("stale socket is replaced", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "sluice.sock")
		old, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		old.SetUnlinkOnClose(false)
		old.Close() // as a killed process leaves it
		ln, err := ListenUnix(path)
		if err != nil {
			t.Fatalf("stale socket not replaced: %v", err)
		}
		defer ln.Close()
		go func() {
			if c, err := ln.Accept(); err == nil {
				c.Close()
			}
		}()
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatalf("new socket does not answer: %v", err)
		}
		c.Close()
	})
	t.Run("socket in use is refused", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "sluice.sock")
		first, err := ListenUnix(path)
		if err != nil {
			t.Fatal(err)
		}
		defer first.Close()
		if _, err := ListenUnix(path); err == nil || !strings.Contains(err.Error(), "something is listening") {
			t.Fatalf("second ListenUnix = %v, want a refusal", err)
		}
		fi, err := os.Lstat(path)
		if err != nil || !os.SameFile(fi, first.file) {
			t.Fatalf("the first listener's socket file was replaced (%v)", err)
		}
	})
	t.Run("regular file is refused", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "sluice.sock")
		if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := ListenUnix(path); err == nil || !strings.Contains(err.Error(), "not a socket") {
			t.Fatalf("ListenUnix over a file = %v, want a refusal", err)
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != "keep me" {
			t.Errorf("file changed: %q, %v", b, err)
		}
	})
	t.Run("a replaced socket file is not removed by Close", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "sluice.sock")
		ln, err := ListenUnix(path)
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(path)
		if err := os.WriteFile(path, []byte("someone else's"), 0o600); err != nil {
			t.Fatal(err)
		}
		ln.Close()
		if _, err := os.Lstat(path); err != nil {
			t.Errorf("Close removed a file it did not make: %v", err)
		}
	})
}

func TestTailscaledUID(t *testing.T) {
	status := func(name, uids string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte("Name:\t" + name + "\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t" + uids + "\nGid:\t0\t0\t0\t0\n")}
	}
	tests := []struct {
		name    string
		proc    fstest.MapFS
		wantUID uint32
		wantPID int
		wantOK  bool
	}{
		{name: "root tailscaled", proc: fstest.MapFS{
			"1/status":   status("systemd", "0\t0\t0\t0"),
			"812/status": status("tailscaled", "0\t0\t0\t0"),
			"900/status": status("sluice", "999\t999\t999\t999"),
		}, wantUID: 0, wantPID: 812, wantOK: true},
		{name: "tailscaled of a user, effective uid counts", proc: fstest.MapFS{
			"4242/status": status("tailscaled", "1000\t1001\t1001\t1001"),
		}, wantUID: 1001, wantPID: 4242, wantOK: true},
		{name: "two of the same user", proc: fstest.MapFS{
			"10/status": status("tailscaled", "0\t0\t0\t0"),
			"11/status": status("tailscaled", "0\t0\t0\t0"),
		}, wantUID: 0, wantPID: 10, wantOK: true},
		{name: "two of different users", proc: fstest.MapFS{
			"10/status": status("tailscaled", "0\t0\t0\t0"),
			"11/status": status("tailscaled", "1000\t1000\t1000\t1000"),
		}},
		{name: "none", proc: fstest.MapFS{"1/status": status("init", "0\t0\t0\t0")}},
		{name: "not a process, or a bad status", proc: fstest.MapFS{
			"self/status": status("tailscaled", "0\t0\t0\t0"),
			"12/status":   {Data: []byte("Name:\ttailscaled\nUid:\tbroken\n")},
			"sys/status":  status("tailscaled", "5\t5\t5\t5"),
		}},
		{name: "a similar name is another program", proc: fstest.MapFS{"7/status": status("tailscaled-x", "0\t0\t0\t0")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uid, pid, ok := tailscaledUID(tt.proc)
			if uid != tt.wantUID || pid != tt.wantPID || ok != tt.wantOK {
				t.Errorf("tailscaledUID = %d, %d, %v; want %d, %d, %v", uid, pid, ok, tt.wantUID, tt.wantPID, tt.wantOK)
			}
		})
	}
}

func TestParseProcStatusOfThisProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("no /proc")
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	_, euid, ok := parseProcStatus(b)
	if !ok || euid != uint32(os.Geteuid()) {
		t.Errorf("parseProcStatus(/proc/self/status) = %d, %v; want %d", euid, ok, os.Geteuid())
	}
}

func FuzzParseProcStatus(f *testing.F) {
	f.Add([]byte("Name:\ttailscaled\nUid:\t0\t0\t0\t0\n"))
	f.Add([]byte("Name:\ttailscaled\nUid:\t1000\t1001\t1002\t1003\nUid:\t0\t0\t0\t0\n"))
	f.Add([]byte("Name:\t\nUid:\t4294967295\t4294967295\t0\t0"))
	f.Add([]byte("Uid:\t1\t2\t3\nName: x\n"))
	f.Fuzz(func(t *testing.T, status []byte) {
		name, euid, ok := parseProcStatus(status)
		if !ok {
			if name != "" || euid != 0 {
				t.Fatalf("failed parse returned %q, %d", name, euid)
			}
			return
		}
		if strings.ContainsAny(name, "\n") || name != strings.TrimSpace(name) {
			t.Fatalf("name %q spans lines or is not trimmed", name)
		}
		if bytes.Count(status, []byte("\nUid:"))+bytesHasPrefix(status, "Uid:") != 1 {
			t.Fatalf("accepted a status without exactly one Uid line: %q", status)
		}
	})
}

func bytesHasPrefix(b []byte, prefix string) int {
	if bytes.HasPrefix(b, []byte(prefix)) {
		return 1
	}
	return 0
}
