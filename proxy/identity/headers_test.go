package identity

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestTrustedHeaders(t *testing.T) {
	fallback := Local("owner@workstation")
	tests := []struct {
		name     string
		remote   string
		headers  [][2]string
		fallback Resolver
		want     Identity
		wantErr  error // nil: success
	}{
		{
			name:    "loopback ipv4 with login and name",
			remote:  "127.0.0.1:51000",
			headers: [][2]string{{HeaderUserLogin, "alice@example.com"}, {HeaderUserName, "Alice Smith"}, {HeaderUserProfilePic, "https://example.com/a.png"}},
			want:    Identity{Login: "alice@example.com", DisplayName: "Alice Smith"},
		},
		{
			name:    "loopback ipv6",
			remote:  "[::1]:51000",
			headers: [][2]string{{HeaderUserLogin, "bob@example.com"}},
			want:    Identity{Login: "bob@example.com"},
		},
		{
			name:    "ipv4-mapped loopback",
			remote:  "[::ffff:127.0.0.1]:51000",
			headers: [][2]string{{HeaderUserLogin, "bob@example.com"}},
			want:    Identity{Login: "bob@example.com"},
		},
		{
			name:    "whole 127/8 is loopback",
			remote:  "127.9.9.9:1",
			headers: [][2]string{{HeaderUserLogin, "bob@example.com"}},
			want:    Identity{Login: "bob@example.com"},
		},
		{
			name:    "q-encoded name and login are decoded",
			remote:  "127.0.0.1:1",
			headers: [][2]string{{HeaderUserLogin, "=?utf-8?q?j=C3=BCrgen@example.com?="}, {HeaderUserName, "=?utf-8?q?J=C3=BCrgen_M=C3=BCller?="}},
			want:    Identity{Login: "jürgen@example.com", DisplayName: "Jürgen Müller"},
		},
		{
			name:    "non-loopback ipv4 with login is refused",
			remote:  "100.64.0.7:40000",
			headers: [][2]string{{HeaderUserLogin, "admin@example.com"}},
			wantErr: ErrUntrustedHeaders,
		},
		{
			name:     "non-loopback is refused even with a fallback",
			remote:   "192.168.1.20:40000",
			headers:  [][2]string{{HeaderUserLogin, "admin@example.com"}},
			fallback: fallback,
			wantErr:  ErrUntrustedHeaders,
		},
		{
			name:    "non-loopback ipv6 with name only is refused",
			remote:  "[fd7a:115c:a1e0::1]:40000",
			headers: [][2]string{{HeaderUserName, "Admin"}},
			wantErr: ErrUntrustedHeaders,
		},
		{
			name:    "non-loopback with profile pic only is refused",
			remote:  "[2001:db8::1]:40000",
			headers: [][2]string{{HeaderUserProfilePic, "https://example.com/p.png"}},
			wantErr: ErrUntrustedHeaders,
		},
		{
			name:    "non-loopback with funnel marker is refused",
			remote:  "203.0.113.9:40000",
			headers: [][2]string{{HeaderFunnelRequest, "?1"}},
			wantErr: ErrUntrustedHeaders,
		},
		{
			name:    "unparsable peer address is not loopback",
			remote:  "pipe",
			headers: [][2]string{{HeaderUserLogin, "admin@example.com"}},
			wantErr: ErrUntrustedHeaders,
		},
		{
			name:    "empty peer address is not loopback",
			remote:  "",
			headers: [][2]string{{HeaderUserLogin, "admin@example.com"}},
			wantErr: ErrUntrustedHeaders,
		},
		{
			name:     "non-loopback without headers goes to fallback",
			remote:   "192.168.1.20:40000",
			fallback: fallback,
			want:     Identity{Login: "owner@workstation"},
		},
		{
			name:    "non-loopback without headers and no fallback is refused",
			remote:  "192.168.1.20:40000",
			wantErr: ErrUnknownCaller,
		},
		{
			name:     "loopback without headers goes to fallback",
			remote:   "127.0.0.1:1",
			fallback: fallback,
			want:     Identity{Login: "owner@workstation"},
		},
		{
			name:    "loopback without headers and no fallback is refused",
			remote:  "[::1]:1",
			wantErr: ErrUnknownCaller,
		},
		{
			name:     "loopback with name but no login goes to fallback",
			remote:   "127.0.0.1:1",
			headers:  [][2]string{{HeaderUserName, "Someone"}},
			fallback: fallback,
			want:     Identity{Login: "owner@workstation"},
		},
		{
			name:     "funnel request is refused, not given to fallback",
			remote:   "127.0.0.1:1",
			headers:  [][2]string{{HeaderFunnelRequest, "?1"}},
			fallback: fallback,
			wantErr:  ErrUnknownCaller,
		},
		{
			name:     "empty login is refused",
			remote:   "127.0.0.1:1",
			headers:  [][2]string{{HeaderUserLogin, "  "}},
			fallback: fallback,
			wantErr:  ErrUnknownCaller,
		},
		{
			name:    "two logins are refused",
			remote:  "127.0.0.1:1",
			headers: [][2]string{{HeaderUserLogin, "alice@example.com"}, {HeaderUserLogin, "admin@example.com"}},
			wantErr: ErrUnknownCaller,
		},
		{
			name:    "a tag is not a user login",
			remote:  "127.0.0.1:1",
			headers: [][2]string{{HeaderUserLogin, "tag:prod"}},
			wantErr: ErrUnknownCaller,
		},
		{
			name:    "a tag list is not a user login",
			remote:  "127.0.0.1:1",
			headers: [][2]string{{HeaderUserLogin, "alice@example.com,tag:prod"}},
			wantErr: ErrUnknownCaller,
		},
		{
			name:    "encoded newline in login is refused",
			remote:  "127.0.0.1:1",
			headers: [][2]string{{HeaderUserLogin, "=?utf-8?q?alice@example.com=0Aadmin?="}},
			wantErr: ErrUnknownCaller,
		},
		{
			name:    "encoded invalid utf-8 in name is refused",
			remote:  "127.0.0.1:1",
			headers: [][2]string{{HeaderUserLogin, "alice@example.com"}, {HeaderUserName, "=?utf-8?q?=FF?="}},
			wantErr: ErrUnknownCaller,
		},
		{
			name:    "undecodable login is refused",
			remote:  "127.0.0.1:1",
			headers: [][2]string{{HeaderUserLogin, "=?x-unknown?q?abc?="}},
			wantErr: ErrUnknownCaller,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
			r.RemoteAddr = tt.remote
			for _, h := range tt.headers {
				r.Header.Add(h[0], h[1])
			}
			got, err := TrustedHeaders(HeaderTrust{Fallback: tt.fallback}).Identify(r)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Identify = %+v, %v; want error %v", got, err, tt.wantErr)
				}
				if (tt.wantErr == ErrUntrustedHeaders) == errors.Is(err, ErrUnknownCaller) {
					t.Errorf("error %v is both or neither of untrusted/unknown", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Identify: %v", err)
			}
			if !equalIdentity(got, tt.want) {
				t.Errorf("Identify = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestTrustedHeadersOverHTTP sends real requests, so RemoteAddr is what
// the server sees: headers are taken from a loopback client, and a peer
// whose address is not loopback is refused.
func TestTrustedHeadersOverHTTP(t *testing.T) {
	res := TrustedHeaders(HeaderTrust{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Pretend the connection came from elsewhere when asked to, the
		// way a listener on a non-loopback address would see it.
		if r.URL.Query().Get("peer") == "remote" {
			r.RemoteAddr = "100.101.102.103:40000"
		}
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
	t.Cleanup(srv.Close)

	tests := []struct {
		name, query, login string
		wantCode           int
		wantBody           string
	}{
		{name: "loopback with login", login: "alice@example.com", wantCode: 200, wantBody: "alice@example.com"},
		{name: "loopback without login", wantCode: 401},
		{name: "remote with login", query: "?peer=remote", login: "alice@example.com", wantCode: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("GET", srv.URL+"/"+tt.query, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.login != "" {
				req.Header.Set(HeaderUserLogin, tt.login)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tt.wantCode)
			}
			if tt.wantBody != "" && string(body) != tt.wantBody {
				t.Errorf("body %q, want %q", body, tt.wantBody)
			}
		})
	}
}

// FuzzTrustedHeaders checks that whatever a peer sends, headers are never
// believed from a non-loopback address and a header login is a user login.
func FuzzTrustedHeaders(f *testing.F) {
	f.Add("127.0.0.1:1", "alice@example.com", "Alice")
	f.Add("[::1]:2", "=?utf-8?q?j=C3=BCrgen@example.com?=", "=?utf-8?b?SsO8cmdlbg==?=")
	f.Add("100.64.0.1:3", "admin@example.com", "")
	f.Add("[::ffff:127.0.0.1]:4", "tag:x", "")
	f.Add("[fe80::1%lo]:5", "", "x")
	f.Add("garbage", "=?", "?=")
	f.Fuzz(func(t *testing.T, remote, login, name string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		if login != "" {
			r.Header.Set(HeaderUserLogin, login)
		}
		if name != "" {
			r.Header.Set(HeaderUserName, name)
		}
		id, err := TrustedHeaders(HeaderTrust{}).Identify(r)
		if err != nil {
			if !errors.Is(err, ErrUnknownCaller) && !errors.Is(err, ErrUntrustedHeaders) {
				t.Fatalf("error %v is neither ErrUnknownCaller nor ErrUntrustedHeaders", err)
			}
			return
		}
		if !isLoopbackPeer(remote) {
			t.Fatalf("trusted headers from %q", remote)
		}
		if id.Login == "" || strings.HasPrefix(id.Login, "tag:") || strings.Contains(id.Login, ",") {
			t.Fatalf("header login %q accepted as %q", login, id.Login)
		}
		if host, _, err := net.SplitHostPort(remote); err != nil || host == "" {
			t.Fatalf("accepted unparsable peer %q", remote)
		}
	})
}

func BenchmarkTrustedHeaders(b *testing.B) {
	res := TrustedHeaders(HeaderTrust{})
	r := httptest.NewRequest("POST", "/v1/messages", nil)
	r.RemoteAddr = "127.0.0.1:50123"
	r.Header.Set(HeaderUserLogin, "alice@example.com")
	r.Header.Set(HeaderUserName, "Alice Smith")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := res.Identify(r); err != nil {
			b.Fatal(err)
		}
	}
}
