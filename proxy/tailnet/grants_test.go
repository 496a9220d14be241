package tailnet_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"tailscale.com/net/tsaddr"
	"tailscale.com/tailcfg"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy"
	"github.com/sluice-gateway/sluice/proxy/tailnet"
	"github.com/sluice-gateway/sluice/proxy/tailnet/tailnettest"
)

// TestGrantsFromPolicyFile: the tailnet policy file grants alice a model
// through an app capability (WhoIs CapMap "tailscale.com/cap/aperture");
// the config grants only roles. Alice gets the model and her record names
// the tailnet grant; bob, with a role and no such grant, gets 404.
func TestGrantsFromPolicyFile(t *testing.T) {
	tn := tailnettest.New(t)
	gw := tn.Start(t, tn.Options(t, ""))
	alice := tn.Node(t, "alice")
	bob := tn.Node(t, "bob")
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	aliceID, bobID := self(t, ctx, alice), self(t, ctx, bob)

	// What a grant {"src": [alice], "dst": ["tag:aperture"], "app": {...}}
	// of the policy file becomes in the gateway's packet filter.
	a4, a6 := alice.Addrs()
	lc, err := gw.Server().LocalClient()
	if err != nil {
		t.Fatal(err)
	}
	st, err := lc.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	filter := append(slices.Clone(tailcfg.FilterAllowAll), tailcfg.FilterRule{
		SrcIPs: []string{a4.String(), a6.String()},
		CapGrant: []tailcfg.CapGrant{{
			Dsts: []netip.Prefix{tsaddr.AllIPv4(), tsaddr.AllIPv6()},
			CapMap: tailcfg.PeerCapMap{
				policy.ApertureCap:     {`{"models": "local/**"}`},
				"example.com/cap/tier": {`{"tier": "gold"}`},
			},
		}},
	})
	if !tn.Control.AddRawMapResponse(st.Self.PublicKey, &tailcfg.MapResponse{PacketFilter: filter}) {
		t.Fatal("the gateway node is not connected to control")
	}
	waitForCaps(t, ctx, gw, a4)

	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"c","object":"chat.completion","created":1763000000,"model":"m1",`+
			`"choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],`+
			`"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
	}))
	t.Cleanup(upstream.Close)
	cfg, err := policy.Parse("tailnet.hujson", []byte(`{
		"providers": {"local": {"baseurl": "`+upstream.URL+`", "apikey": "k", "models": ["m1"]}},
		"grants": [{"src": ["*"], "app": {"tailscale.com/cap/aperture": [{"role": "user"}]}}],
	}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	sink := &recordSink{}
	srv, err := proxy.New(ctx, cfg, proxy.Options{Identity: gw.Resolver(), Sink: sink})
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

	call := func(client *http.Client) int {
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://ai/v1/chat/completions", strings.NewReader(`{"model":"m1","messages":[]}`))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := call(alice.HTTPClient()); got != 200 {
		t.Errorf("alice got %d, want 200 through the policy file's grant", got)
	}
	if got := call(bob.HTTPClient()); got != 404 {
		t.Errorf("bob got %d, want 404 (a role, but no grant for the model)", got)
	}
	drain, cancelDrain := context.WithTimeout(ctx, 5*time.Second)
	defer cancelDrain()
	if err := srv.Shutdown(drain); err != nil {
		t.Fatal(err)
	}
	for _, r := range sink.all() {
		switch r.Login {
		case aliceID.Login:
			if !slices.Equal(r.Grants, []string{"tailnet:caps[0]"}) {
				t.Errorf("alice's record names grants %q, want the tailnet one", r.Grants)
			}
		case bobID.Login:
			if r.Status != 404 || len(r.Grants) != 0 {
				t.Errorf("bob's record = status %d grants %q", r.Status, r.Grants)
			}
		}
	}
}

// waitForCaps waits until the gateway's WhoIs reports app capabilities for
// the caller at addr, that is until its new packet filter is applied.
func waitForCaps(t *testing.T, ctx context.Context, gw *tailnet.Node, addr netip.Addr) {
	t.Helper()
	for {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = netip.AddrPortFrom(addr, 40000).String()
		id, err := gw.Resolver().Identify(r.WithContext(ctx))
		if err == nil && len(id.Caps) > 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("WhoIs never reported the policy file's capabilities (last: %+v, %v)", id, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
