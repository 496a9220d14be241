package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

// nxdomainServer is a DNS server on loopback that answers every query
// "no such name", so name lookups in tests never leave the machine.
func nxdomainServer(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := buf[:n]
			if len(q) < 12 {
				continue
			}
			// The question ends after its labels, a zero byte, type and class.
			end := 12
			for end < len(q) && q[end] != 0 {
				end += int(q[end]) + 1
			}
			end += 5
			if end > len(q) {
				continue
			}
			resp := append([]byte{q[0], q[1], 0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0}, q[12:end]...)
			pc.WriteTo(resp, from)
		}
	}()
	return pc.LocalAddr().String()
}

// TestUnreachableProvider: a 502 for a provider that cannot be reached
// says why (DNS, refused, TLS) in the caller's API format and on the
// server log, and neither shows the provider's key or URL.
func TestUnreachableProvider(t *testing.T) {
	dns := nxdomainServer(t)
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "udp", dns)
	}}
	transport := &http.Transport{DialContext: (&net.Dialer{Resolver: resolver, Timeout: 5 * time.Second}).DialContext}

	refused := "http://" + proxytest.RefusingAddr(t)
	untrusted := httptest.NewUnstartedServer(http.NotFoundHandler())
	untrusted.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	untrusted.StartTLS()
	defer untrusted.Close()

	tests := []struct {
		name    string
		baseURL string
		path    string
		body    string
		want    string
		shape   string // a field only the caller's error format has
	}{
		{name: "refused, OpenAI caller", baseURL: refused, path: "/v1/chat/completions",
			body: `{"model":"gpt-5","messages":[]}`,
			want: "provider up could not be reached: connection refused", shape: `"code":"upstream_error"`},
		{name: "refused, Anthropic caller", baseURL: refused, path: "/v1/messages",
			body: `{"model":"gpt-5","max_tokens":5,"messages":[]}`,
			want: "provider up could not be reached: connection refused", shape: `{"type":"error"`},
		{name: "host name does not resolve", baseURL: "http://provider.sluice-test.invalid", path: "/v1/chat/completions",
			body: `{"model":"gpt-5","messages":[]}`,
			want: "provider up could not be reached: DNS failure: its host name does not resolve", shape: `"code":"upstream_error"`},
		{name: "certificate from an unknown authority", baseURL: untrusted.URL, path: "/v1/chat/completions",
			body: `{"model":"gpt-5","messages":[]}`,
			want: "provider up could not be reached: TLS error: its certificate is signed by an unknown authority", shape: `"code":"upstream_error"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			config := fmt.Sprintf(`{
				"providers": {"up": {"baseurl": %q, "apikey": "sk-unreachable-secret", "models": ["gpt-5"],
					"compatibility": {"openai_chat": true, "anthropic_messages": true}}},
				"temp_grants": [{"src": ["*"], "grants": [{"role": "user"}, {"providers": [{"provider": "*", "model": "*"}]}]}],
			}`, tt.baseURL)
			cfg, err := policy.Parse("test.hujson", []byte(config), func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			logs := &lockedBuffer{}
			sink := &memSink{}
			srv, err := New(context.Background(), cfg, Options{Identity: identity.Local("alice@example.com"), Sink: sink,
				Transport: transport, Logger: slog.New(slog.NewTextHandler(logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			gw := httptest.NewServer(srv)
			defer gw.Close()

			resp, body := post(t, gw.URL+tt.path, nil, tt.body)
			if resp.StatusCode != http.StatusBadGateway {
				t.Errorf("status %d, want 502; body %s", resp.StatusCode, body)
			}
			if !strings.Contains(body, tt.want) || !strings.Contains(body, tt.shape) {
				t.Errorf("body %s; want %q in the caller's format (%s)", body, tt.want, tt.shape)
			}
			reason := tt.want[strings.Index(tt.want, "reached: ")+len("reached: "):]
			if l := logs.String(); !strings.Contains(l, "provider request failed") || !strings.Contains(l, reason) {
				t.Errorf("server log lacks the failure and %q:\n%s", reason, l)
			}
			for _, secret := range []string{"sk-unreachable-secret", tt.baseURL} {
				if strings.Contains(body, secret) || strings.Contains(logs.String(), secret) {
					t.Errorf("%q shown; body %s; log %s", secret, body, logs.String())
				}
			}
		})
	}
}

func TestUnreachableReasonUnknown(t *testing.T) {
	if r := UnreachableReason(errors.New("something else")); r != "" {
		t.Errorf("reason %q for an unclassified error, want none", r)
	}
}
