package proxy

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// stallingTransport is a round tripper of another kind than
// *http.Transport (as a tailnet transport may be) whose provider never
// answers: it waits until the call is cancelled.
type stallingTransport struct{}

func (stallingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	<-r.Context().Done()
	return nil, r.Context().Err()
}

// stallingDialer is a transport whose dials hang, as a dial to a tailnet
// peer that is offline does, until their context ends.
func stallingDialer() *http.Transport {
	return &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}}
}

// TestProxyOwnsUpstreamTimeouts: the header and connect timeouts hold for
// "tailnet": true providers and for any transport, not only the one the
// proxy builds itself.
func TestProxyOwnsUpstreamTimeouts(t *testing.T) {
	const config = `{
		"providers": {
			"openai": {"baseurl": "UPSTREAM", "apikey": "k", "models": ["gpt-5"]},
			"private": {"baseurl": "http://gpu-box:8000", "tailnet": true, "apikey": "k", "models": ["qwen3"]},
		},
	}`
	tests := []struct {
		name    string
		model   string
		opts    func(*Options)
		message string
	}{
		{"tailnet transport stalls before headers", "qwen3", func(o *Options) {
			o.TailnetTransport, o.HeaderTimeout = stallingTransport{}, 200*time.Millisecond
		}, "no response headers within 200ms"},
		{"any transport stalls before headers", "gpt-5", func(o *Options) {
			o.Transport, o.HeaderTimeout = stallingTransport{}, 200*time.Millisecond
		}, "no response headers within 200ms"},
		{"tailnet dial stalls", "qwen3", func(o *Options) {
			o.TailnetTransport, o.ConnectTimeout = stallingDialer(), 200*time.Millisecond
		}, "could not be connected to within 200ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := newGateway(t, config, "alice@example.com", tt.opts)
			start := time.Now()
			resp, body := post(t, gw.URL+"/v1/chat/completions", nil, `{"model":"`+tt.model+`","messages":[]}`)
			if elapsed := time.Since(start); resp.StatusCode != http.StatusGatewayTimeout || elapsed > 3*time.Second {
				t.Errorf("got %d after %v; want 504 soon after 200ms", resp.StatusCode, elapsed)
			}
			if !strings.Contains(body, tt.message) {
				t.Errorf("body %s; want it to say %q", body, tt.message)
			}
			if rec := waitRecords(t, gw, 1)[0]; rec.Status != http.StatusGatewayTimeout || rec.ErrorKind != "timeout" {
				t.Errorf("record: status %d, kind %q; want 504, timeout", rec.Status, rec.ErrorKind)
			}
		})
	}
}
