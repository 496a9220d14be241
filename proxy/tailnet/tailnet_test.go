package tailnet_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/proxy/tailnet"
	"github.com/sluice-gateway/sluice/proxy/tailnet/tailnettest"
)

// serveIdentity serves, on ln, the identity of each caller as JSON, or 403
// with the error when the resolver refuses it.
func serveIdentity(t *testing.T, ln net.Listener, res identity.Resolver) {
	t.Helper()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := res.Identify(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		json.NewEncoder(w).Encode(id)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// whoAmI asks the identity server at url who the client is.
func whoAmI(t *testing.T, ctx context.Context, client *http.Client, url string) identity.Identity {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, body)
	}
	var id identity.Identity
	if err := json.Unmarshal(body, &id); err != nil {
		t.Fatalf("GET %s: %v in %q", url, err, body)
	}
	return id
}

func self(t *testing.T, ctx context.Context, n *tailnet.Node) identity.Identity {
	t.Helper()
	id, err := n.Self(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestTailnet(t *testing.T) {
	start := time.Now()
	tn := tailnettest.New(t)
	gateway := tn.Start(t, tn.Options(t, "")) // the default name, "ai"
	alice := tn.Node(t, "alice")
	bob := tn.Node(t, "bob")
	ci := tn.Node(t, "ci", tailnettest.Tags("tag:server", "tag:ci"))
	upstream := tn.Node(t, "upstream")
	t.Logf("five nodes up in %v", time.Since(start).Round(time.Millisecond))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	ln, err := gateway.Listen("tcp", "")
	if err != nil {
		t.Fatal(err)
	}
	serveIdentity(t, ln, gateway.Resolver())

	t.Run("gateway node", func(t *testing.T) {
		id := self(t, ctx, gateway)
		if id.NodeName != "ai."+tailnettest.MagicDNSSuffix {
			t.Errorf("gateway is %q, want ai.%s", id.NodeName, tailnettest.MagicDNSSuffix)
		}
		want := identity.Tailnet{Name: tailnettest.TailnetName, MagicDNSSuffix: tailnettest.MagicDNSSuffix}
		if got := gateway.Tailnet(); got != want {
			t.Errorf("Tailnet() = %+v, want %+v", got, want)
		}
		if ip4, _ := gateway.Addrs(); !ip4.IsValid() {
			t.Errorf("gateway has no tailnet IPv4 address")
		}
		// /readyz asks this in tailnet mode.
		if err := gateway.Ready(ctx); err != nil {
			t.Errorf("Ready() = %v for a node that is up", err)
		}
	})

	t.Run("callers are identified by WhoIs", func(t *testing.T) {
		seen := map[string]string{}
		for _, c := range []struct {
			name string
			node *tailnet.Node
			tags []string
		}{
			{name: "alice", node: alice},
			{name: "bob", node: bob},
			{name: "ci", node: ci, tags: []string{"tag:ci", "tag:server"}},
		} {
			got := whoAmI(t, ctx, c.node.HTTPClient(), "http://ai/")
			want := self(t, ctx, c.node)
			if got.Login != want.Login || got.NodeID != want.NodeID || got.NodeName != want.NodeName || got.Tailnet != want.Tailnet || !slices.Equal(got.Tags, want.Tags) {
				t.Errorf("%s: gateway saw %+v, the node says it is %+v", c.name, got, want)
			}
			if got.NodeName != c.name+"."+tailnettest.MagicDNSSuffix || got.Tailnet != tailnettest.TailnetName || got.NodeID == "" {
				t.Errorf("%s: identity %+v lacks node name, tailnet or node ID", c.name, got)
			}
			if c.tags == nil {
				if !strings.HasSuffix(got.Login, "@"+tailnettest.TailnetName) || got.Tagged() {
					t.Errorf("%s: login %q is not a user of the tailnet", c.name, got.Login)
				}
			} else if got.Login != strings.Join(c.tags, ",") || !slices.Equal(got.Tags, c.tags) {
				t.Errorf("%s: tagged device is %q %q, want its sorted tags %q", c.name, got.Login, got.Tags, c.tags)
			}
			if other, dup := seen[got.Login]; dup {
				t.Errorf("%s and %s have the same login %q", c.name, other, got.Login)
			}
			seen[got.Login] = c.name
		}
	})

	t.Run("the gateway is reached by address too", func(t *testing.T) {
		ip4, ip6 := gateway.Addrs()
		for _, host := range []string{ip4.String(), "[" + ip6.String() + "]", "ai." + tailnettest.MagicDNSSuffix} {
			if got, want := whoAmI(t, ctx, alice.HTTPClient(), "http://"+host+"/"), self(t, ctx, alice); got.Login != want.Login {
				t.Errorf("via %s: login %q, want %q", host, got.Login, want.Login)
			}
		}
	})

	t.Run("a caller that is not a tailnet node is unknown", func(t *testing.T) {
		for _, remote := range []string{"127.0.0.1:40000", "[::1]:40000", "100.100.100.100:40000", "192.0.2.1:1"} {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = remote
			id, err := gateway.Resolver().Identify(r)
			if !errors.Is(err, identity.ErrUnknownCaller) {
				t.Errorf("Identify from %s = %+v, %v; want ErrUnknownCaller", remote, id, err)
			}
		}
	})

	t.Run("https with the tailnet certificate", func(t *testing.T) {
		tlsLn, err := gateway.ListenTLS("tcp", "")
		if err != nil {
			t.Fatal(err)
		}
		serveIdentity(t, tlsLn, gateway.Resolver())
		client := &http.Client{Transport: &http.Transport{
			DialContext:     bob.Dial,
			TLSClientConfig: &tls.Config{RootCAs: tn.RootCAs()},
		}}
		got := whoAmI(t, ctx, client, "https://ai."+tailnettest.MagicDNSSuffix+"/")
		if want := self(t, ctx, bob); got.Login != want.Login {
			t.Errorf("over https: login %q, want %q", got.Login, want.Login)
		}

		// A client that speaks HTTP/2 gets it, and is still known.
		h2 := &http.Client{Transport: &http.Transport{
			DialContext:       bob.Dial,
			TLSClientConfig:   &tls.Config{RootCAs: tn.RootCAs()},
			ForceAttemptHTTP2: true,
		}}
		req, _ := http.NewRequestWithContext(ctx, "GET", "https://ai."+tailnettest.MagicDNSSuffix+"/", nil)
		resp, err := h2.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var id identity.Identity
		json.NewDecoder(resp.Body).Decode(&id)
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Errorf("an HTTP/2 client was answered over %s, want HTTP/2 (offered in the TLS handshake)", resp.Proto)
		}
		if want := self(t, ctx, bob); id.Login != want.Login {
			t.Errorf("over HTTP/2: login %q, want %q", id.Login, want.Login)
		}
	})

	t.Run("a provider on the tailnet is dialled through the node", func(t *testing.T) {
		upLn, err := upstream.Listen("tcp", ":8000")
		if err != nil {
			t.Fatal(err)
		}
		upRes := upstream.Resolver()
		mock := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, err := upRes.Identify(r)
			if err != nil {
				http.Error(w, err.Error(), http.StatusForbidden)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"object":"list","data":[{"id":"llama-3"}],"caller":%q}`, id.NodeName)
		})}
		go mock.Serve(upLn)
		t.Cleanup(func() { mock.Close() })

		ip4, _ := upstream.Addrs()
		for _, base := range []string{"http://upstream:8000", "http://upstream." + tailnettest.MagicDNSSuffix + ":8000", "http://" + ip4.String() + ":8000"} {
			req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/models", nil)
			resp, err := gateway.HTTPClient().Do(req)
			if err != nil {
				t.Fatalf("GET %s: %v", base, err)
			}
			var body struct {
				Data   []struct{ ID string }
				Caller string
			}
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || len(body.Data) != 1 || body.Data[0].ID != "llama-3" {
				t.Fatalf("GET %s: %s %+v %v", base, resp.Status, body, err)
			}
			if body.Caller != "ai."+tailnettest.MagicDNSSuffix {
				t.Errorf("GET %s: upstream saw %q, want the gateway node", base, body.Caller)
			}
		}
		// The shared transport is the one providers use, and reuses
		// connections.
		if gateway.Transport() != gateway.HTTPClient().Transport {
			t.Errorf("HTTPClient does not use Transport")
		}
	})

	t.Run("restart keeps the node identity", func(t *testing.T) {
		o := tn.Options(t, "persistent")
		o.Ephemeral = false
		first, err := tailnet.Start(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		before := self(t, ctx, first)
		if err := first.Close(); err != nil {
			t.Fatal(err)
		}
		// The key stays set, as TS_AUTHKEY does in a service's
		// environment; a node with state keeps its node key and is not
		// re-created from it.
		second, err := tailnet.Start(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		defer second.Close()
		after := self(t, ctx, second)
		if after.NodeID != before.NodeID || after.Login != before.Login {
			t.Errorf("after restart the node is %s (%s), before it was %s (%s)", after.NodeID, after.Login, before.NodeID, before.Login)
		}
	})

	t.Run("the auth key defaults to TS_AUTHKEY", func(t *testing.T) {
		t.Setenv("TS_AUTHKEY", tailnettest.AuthKey)
		o := tn.Options(t, "from-env")
		o.AuthKey = ""
		n := tn.Start(t, o)
		if id := self(t, ctx, n); id.NodeName != "from-env."+tailnettest.MagicDNSSuffix {
			t.Errorf("node is %q", id.NodeName)
		}
	})

	t.Run("a wrong auth key fails to start", func(t *testing.T) {
		o := tn.Options(t, "intruder")
		o.AuthKey = "tskey-auth-wrong"
		sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
		defer scancel()
		n, err := tailnet.Start(sctx, o)
		if err == nil {
			n.Close()
			t.Fatal("Start with a wrong auth key succeeded")
		}
		if !strings.Contains(err.Error(), "intruder") {
			t.Errorf("error %q does not name the node", err)
		}
	})
	t.Logf("tailnet test took %v", time.Since(start).Round(time.Millisecond))
}
