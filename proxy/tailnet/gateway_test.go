package tailnet_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy"
	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/proxy/tailnet/tailnettest"
	"github.com/sluice-gateway/sluice/store"
)

// recordSink keeps the gateway's records.
type recordSink struct {
	mu   sync.Mutex
	recs []store.Record
}

func (s *recordSink) Write(r store.Record) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, r)
	return true
}

func (s *recordSink) Healthy() error { return nil }

func (s *recordSink) all() []store.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]store.Record(nil), s.recs...)
}

// TestGatewayOnTailnet runs sluice as its own node of an offline tailnet:
// two people call it from their devices and get different answers from
// policy, the record and the hook metadata carry their tailnet identity,
// and a self-hosted model served by a fourth node is reached over the
// tailnet as a "tailnet": true provider.
func TestGatewayOnTailnet(t *testing.T) {
	tn := tailnettest.New(t)
	gw := tn.Start(t, tn.Options(t, ""))
	alice := tn.Node(t, "alice")
	bob := tn.Node(t, "bob")
	model := tn.Node(t, "upstream")
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	aliceID, bobID := self(t, ctx, alice), self(t, ctx, bob)

	// The self-hosted model server, reachable only on the tailnet.
	var upMu sync.Mutex
	var upAuth []string
	modelLn, err := model.Listen("tcp", ":8000")
	if err != nil {
		t.Fatal(err)
	}
	modelSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upMu.Lock()
		upAuth = append(upAuth, r.Header.Get("Authorization"))
		upMu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"chatcmpl-t","object":"chat.completion","created":1763000000,"model":"qwen3-coder-30b",`+
			`"choices":[{"index":0,"message":{"role":"assistant","content":"hello from the tailnet"},"finish_reason":"stop"}],`+
			`"usage":{"prompt_tokens":7,"completion_tokens":5,"total_tokens":12}}`)
	})}
	go modelSrv.Serve(modelLn)
	t.Cleanup(func() { modelSrv.Close() })

	// A hook receiver on the gateway's own machine.
	var hookMu sync.Mutex
	var hookMeta []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct {
			Metadata map[string]any `json:"metadata"`
		}
		json.NewDecoder(r.Body).Decode(&p)
		hookMu.Lock()
		hookMeta = append(hookMeta, p.Metadata)
		hookMu.Unlock()
	}))
	t.Cleanup(hook.Close)

	cfg, err := policy.Parse("tailnet.hujson", []byte(`{
		"providers": {"private": {"baseurl": "http://upstream:8000", "tailnet": true, "apikey": "sk-private",
			"models": ["qwen3-coder-30b"]}},
		"hooks": {"audit": {"url": "`+hook.URL+`"}},
		"temp_grants": [
			{"src": ["*"], "grants": [{"role": "user"}]},
			{"src": ["`+aliceID.Login+`"], "grants": [
				{"providers": [{"provider": "private", "model": "*"}]},
				{"hook": {"match": {"events": ["entire_request"]}, "hook": "audit", "fields": ["user_message"]}},
			]},
		],
	}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	sink := &recordSink{}
	srv, err := proxy.New(ctx, cfg, proxy.Options{Identity: gw.Resolver(), TailnetTransport: gw.Transport(), Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := gw.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })

	call := func(t *testing.T, client *http.Client) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://ai/v1/chat/completions",
			strings.NewReader(`{"model":"qwen3-coder-30b","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer client-key")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	t.Run("alice is allowed and reaches the tailnet model", func(t *testing.T) {
		status, body := call(t, alice.HTTPClient())
		if status != 200 || !strings.Contains(body, "hello from the tailnet") {
			t.Fatalf("alice got %d %s", status, body)
		}
		upMu.Lock()
		defer upMu.Unlock()
		if len(upAuth) != 1 || upAuth[0] != "Bearer sk-private" {
			t.Errorf("the model server saw Authorization %q, want the provider key only", upAuth)
		}
	})
	t.Run("bob is denied by policy", func(t *testing.T) {
		status, body := call(t, bob.HTTPClient())
		if status != http.StatusForbidden || !strings.Contains(body, bobID.Login) {
			t.Fatalf("bob got %d %s, want 403 naming him", status, body)
		}
	})
	t.Run("a caller the tailnet cannot identify never reaches policy", func(t *testing.T) {
		r := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(`{"model":"qwen3-coder-30b","messages":[]}`))
		r.RemoteAddr = "127.0.0.1:40000"
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		if w.Code != http.StatusForbidden || w.Header().Get("X-Sluice-Decision-Id") != "" {
			t.Errorf("got %d (decision %q), want 403 without a policy decision", w.Code, w.Header().Get("X-Sluice-Decision-Id"))
		}
	})
	t.Run("records and hook metadata carry the tailnet identity", func(t *testing.T) {
		drain, cancelDrain := context.WithTimeout(ctx, 5*time.Second)
		defer cancelDrain()
		if err := srv.Shutdown(drain); err != nil {
			t.Fatal(err)
		}
		byLogin := map[string]store.Record{}
		for _, r := range sink.all() {
			byLogin[r.Login] = r
		}
		a, b := byLogin[aliceID.Login], byLogin[bobID.Login]
		if a.Status != 200 || a.NodeID != aliceID.NodeID || a.Tailnet != tailnettest.TailnetName || a.Provider != "private" || a.Usage.Output.Value() != 5 {
			t.Errorf("alice's record = %+v", a)
		}
		if b.Status != 403 || b.NodeID != bobID.NodeID {
			t.Errorf("bob's record = %+v", b)
		}
		hookMu.Lock()
		defer hookMu.Unlock()
		if len(hookMeta) != 1 {
			t.Fatalf("hook got %d deliveries, want alice's one", len(hookMeta))
		}
		m := hookMeta[0]
		if m["login_name"] != aliceID.Login || m["stable_node_id"] != aliceID.NodeID || m["tailnet_name"] != tailnettest.TailnetName {
			t.Errorf("hook metadata = %v, want alice's tailnet identity", m)
		}
	})
	t.Run("a tailnet model that never answers is cut at the header timeout", func(t *testing.T) {
		stallLn, err := model.Listen("tcp", ":8001")
		if err != nil {
			t.Fatal(err)
		}
		stall := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })}
		go stall.Serve(stallLn)
		t.Cleanup(func() { stall.Close() })
		cfg, err := policy.Parse("stall.hujson", []byte(`{"providers": {"stalled": {"baseurl": "http://upstream:8001", "tailnet": true, "apikey": "k", "models": ["slow-model"]}}}`), nil)
		if err != nil {
			t.Fatal(err)
		}
		sink := &recordSink{}
		srv, err := proxy.New(ctx, cfg, proxy.Options{Identity: identity.Local("dev@example.com"), TailnetTransport: gw.Transport(),
			Sink: sink, HeaderTimeout: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(`{"model":"slow-model","messages":[]}`)))
		if elapsed := time.Since(start); w.Code != http.StatusGatewayTimeout || elapsed > 5*time.Second {
			t.Errorf("got %d after %v (%s); want 504 soon after 300ms", w.Code, elapsed, w.Body)
		}
		if recs := sink.all(); len(recs) != 1 || recs[0].Status != http.StatusGatewayTimeout {
			t.Errorf("records %+v; want one 504", recs)
		}
	})
}
