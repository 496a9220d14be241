package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy/identity"
)

// sseUpstream streams a chat completion of n chunks, flushing each, and
// remembers the protocol version of the last request it saw.
func sseUpstream(n int, proto *atomic.Int32) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proto.Store(int32(r.ProtoMajor))
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range n {
			fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-5\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok%d \"},\"finish_reason\":null}]}\n\n", i)
			w.(http.Flusher).Flush()
		}
		io.WriteString(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-5\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":5,\"total_tokens\":8}}\n\ndata: [DONE]\n\n")
	})
}

// TestUpstreamHTTP2: sluice speaks HTTP/2 to an https:// provider that
// offers it (ALPN), to an http:// provider with "h2c": true (prior
// knowledge), and HTTP/1.1 to an http:// provider without it; the
// client's stream arrives whole every time.
func TestUpstreamHTTP2(t *testing.T) {
	tests := []struct {
		name      string
		tls       bool
		h2c       bool
		wantProto int32
	}{
		{name: "https negotiates h2", tls: true, wantProto: 2},
		{name: "http with h2c", h2c: true, wantProto: 2},
		{name: "http without h2c stays HTTP/1.1", wantProto: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var proto atomic.Int32
			up := httptest.NewUnstartedServer(sseUpstream(5, &proto))
			transport := newTransport(10 * time.Second)
			if tt.tls {
				up.EnableHTTP2 = true
				up.StartTLS()
				// Trust the test certificate, and nothing else changes:
				// the transport is the one serve uses.
				transport.TLSClientConfig = &tls.Config{RootCAs: up.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
			} else {
				up.Config.Protocols = new(http.Protocols)
				up.Config.Protocols.SetHTTP1(true)
				up.Config.Protocols.SetUnencryptedHTTP2(true)
				up.Start()
			}
			t.Cleanup(up.Close)
			cfg, err := policy.Parse("t.hujson", []byte(fmt.Sprintf(`{"providers": {"p": {"baseurl": %q, "apikey": "k", "models": ["gpt-5"], "h2c": %v}}}`,
				up.URL, tt.h2c)), func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			srv, err := New(context.Background(), cfg, Options{Identity: identity.Local("alice@example.com"), Sink: &memSink{}, Transport: transport})
			if err != nil {
				t.Fatal(err)
			}
			gw := httptest.NewServer(srv)
			t.Cleanup(gw.Close)

			resp, err := http.Post(gw.URL+"/v1/chat/completions", "application/json",
				strings.NewReader(`{"model":"gpt-5","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, err %v: %s", resp.StatusCode, err, body)
			}
			if got := proto.Load(); got != tt.wantProto {
				t.Errorf("upstream saw HTTP/%d, want HTTP/%d", got, tt.wantProto)
			}
			for i := range 5 {
				if !strings.Contains(string(body), fmt.Sprintf(`"tok%d "`, i)) {
					t.Errorf("chunk %d missing from the stream:\n%s", i, body)
				}
			}
			if !strings.HasSuffix(string(body), "data: [DONE]\n\n") {
				t.Errorf("stream does not end with [DONE]:\n%s", body)
			}
			if strings.Contains(string(body), `"usage"`) {
				t.Errorf("the usage chunk sluice asked for reached a client that did not:\n%s", body)
			}
		})
	}
}
