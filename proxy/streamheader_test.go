package proxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy/identity"
)

// TestStreamHeaderBeforeFirstEvent: a client of a streamed answer gets
// the response headers as soon as the provider sent them, before the
// first event.
func TestStreamHeaderBeforeFirstEvent(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		wantEarly   bool // headers reach the client before the body is released
	}{
		{"streamed", "text/event-stream", `{"model":"gpt-5","stream":true,"stream_options":{"include_usage":true},"messages":[]}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				w.WriteHeader(http.StatusOK)
				http.NewResponseController(w).Flush()
				<-release
				if tt.contentType == "text/event-stream" {
					io.WriteString(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-5\",\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2}}\n\ndata: [DONE]\n\n")
					return
				}
				io.WriteString(w, chatJSON)
			}))
			defer up.Close()
			defer func() {
				select {
				case <-release:
				default:
					close(release)
				}
			}()
			cfg, err := policy.Parse("test.hujson", []byte(strings.ReplaceAll(pipelineConfig, "UPSTREAM", up.URL)), func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			srv, err := New(context.Background(), cfg, Options{Identity: identity.Local("alice@example.com"), Sink: &memSink{}})
			if err != nil {
				t.Fatal(err)
			}
			gw := httptest.NewServer(srv)
			defer gw.Close()

			got := make(chan *http.Response, 1)
			go func() {
				resp, err := http.Post(gw.URL+"/v1/chat/completions", "application/json", strings.NewReader(tt.body))
				if err != nil {
					t.Error(err)
					close(got)
					return
				}
				got <- resp
			}()
			var resp *http.Response
			select {
			case resp = <-got:
			case <-time.After(300 * time.Millisecond):
				if tt.wantEarly {
					t.Error("the client got no headers while the provider held the first event")
				}
			}
			close(release)
			if resp == nil {
				resp = <-got
			}
			if resp == nil {
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || len(body) == 0 {
				t.Errorf("status %d, body %q", resp.StatusCode, body)
			}
		})
	}
}
