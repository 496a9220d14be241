package proxy

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy/identity"
)

// TestForwardingLoopRefused: a provider whose base URL is the gateway
// itself gets one pass, not an endless chain of them: the request that
// comes back is refused with 508 in the caller's format, and the client
// sees that refusal passed on.
func TestForwardingLoopRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	self := "http://" + ln.Addr().String()
	cfg, err := policy.Parse("test.hujson", []byte(`{
		"providers": {"self": {"baseurl": "`+self+`", "apikey": "sk-self", "models": ["gpt-5"]}},
		"temp_grants": [{"src": ["*"], "grants": [{"role": "user"}, {"providers": [{"provider": "*", "model": "*"}]}]}],
	}`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	srv, err := New(context.Background(), cfg, Options{Identity: identity.Local("alice@example.com"), Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	hs := &httptest.Server{Listener: ln, Config: &http.Server{Handler: srv}}
	hs.Start()
	t.Cleanup(hs.Close)

	resp, body := post(t, self+"/v1/chat/completions", nil, `{"model":"gpt-5","messages":[]}`)
	if resp.StatusCode != http.StatusLoopDetected || !strings.Contains(body, "points at the gateway itself") ||
		!strings.Contains(body, `"error":{`) {
		t.Fatalf("status %d, body %s; want 508 in the OpenAI format", resp.StatusCode, body)
	}
	srv.Shutdown(context.Background())
	recs := sink.all()
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2 (the client's request and the one that came back)", len(recs))
	}
}
