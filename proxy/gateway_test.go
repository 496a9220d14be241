package proxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
	"github.com/sluice-gateway/sluice/store"
)

// memSink keeps records for assertions.
type memSink struct {
	mu   sync.Mutex
	recs []store.Record
}

func (s *memSink) Write(r store.Record) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, r)
	return true
}

func (s *memSink) Healthy() error { return nil }

func (s *memSink) all() []store.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]store.Record(nil), s.recs...)
}

// gateway is a running sluice in front of a mock upstream.
type gateway struct {
	*httptest.Server
	srv      *Server
	upstream *proxytest.Upstream
	sink     *memSink
}

// newGateway starts sluice with config, in which every "UPSTREAM" is
// replaced by the mock upstream's URL; callers are identified as login.
func newGateway(t *testing.T, config, login string, mutate ...func(*Options)) *gateway {
	t.Helper()
	up := proxytest.NewUpstream(t)
	cfg, err := policy.Parse("test.hujson", []byte(strings.ReplaceAll(config, "UPSTREAM", up.URL)), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	sink := &memSink{}
	opts := Options{Identity: identity.Local(login), Sink: sink}
	for _, m := range mutate {
		m(&opts)
	}
	srv, err := New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Serve cleartext HTTP/2 too, as `sluice serve` does: the AWS SDKs use
	// it towards http:// endpoints.
	hs := httptest.NewUnstartedServer(srv)
	hs.Config.Protocols = new(http.Protocols)
	hs.Config.Protocols.SetHTTP1(true)
	hs.Config.Protocols.SetUnencryptedHTTP2(true)
	hs.Start()
	t.Cleanup(hs.Close)
	return &gateway{Server: hs, srv: srv, upstream: up, sink: sink}
}
