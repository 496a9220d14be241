package tailnet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"tailscale.com/ipn"
	"tailscale.com/ipn/ipnstate"
	"tailscale.com/tailcfg"

	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/proxy/tailnet/tailnettest"
)

// TestServiceIdentifiesCallers: a node hosting a Tailscale Service gets the
// service's connections with the caller's tailnet address, so WhoIs names
// the caller as on the node's own listener. The control server plays the
// admin: it approves the host and gives the service its address.
func TestServiceIdentifiesCallers(t *testing.T) {
	tn := tailnettest.New(t)
	host := tn.Node(t, "ai-1", tailnettest.Tags("tag:ai"))
	alice := tn.Node(t, "alice")
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()

	const name, vip = "svc:ai", "100.11.22.33"
	hostLC, err := host.Server().LocalClient()
	if err != nil {
		t.Fatal(err)
	}
	st, err := hostLC.StatusWithoutPeers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nodeKey := st.Self.PublicKey
	ips, _ := json.Marshal(tailcfg.ServiceIPMappings{tailcfg.ServiceName(name): {netip.MustParseAddr(vip)}})
	tn.Control.SetNodeCapMap(nodeKey, tailcfg.NodeCapMap{tailcfg.NodeAttrServiceHost: {tailcfg.RawMessage(ips)}})
	tn.Control.SetSubnetRoutes(nodeKey, []netip.Prefix{netip.MustParsePrefix(vip + "/32")})
	aliceLC, err := alice.Server().LocalClient()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := aliceLC.EditPrefs(ctx, &ipn.MaskedPrefs{RouteAllSet: true, Prefs: ipn.Prefs{RouteAll: true}}); err != nil {
		t.Fatal(err)
	}
	tn.Control.AddDNSRecords(tailcfg.DNSRecord{Name: "ai." + tailnettest.MagicDNSSuffix, Value: vip})

	// The host listens for the service only once its own node carries
	// the service's address: a listener made before that never receives
	// the service's connections (seen on a busy machine, where the
	// control server's update can arrive after ListenService).
	for {
		st, err := hostLC.StatusWithoutPeers(ctx)
		if err == nil && st.Self.CapMap.Contains(tailcfg.NodeAttrServiceHost) && st.Self.AllowedIPs != nil &&
			st.Self.AllowedIPs.ContainsFunc(func(p netip.Prefix) bool { return p == netip.MustParsePrefix(vip+"/32") }) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the host never got the service's address: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	var ln interface{ Close() error }
	var sl *serviceListener
	for {
		l, err := host.ListenService(name, 80, false)
		if err == nil {
			sl = &serviceListener{l.FQDN}
			ln = l
			serveIdentity(t, l, host.Resolver())
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("ListenService: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	defer ln.Close()
	if sl.fqdn != "ai."+tailnettest.MagicDNSSuffix {
		t.Errorf("service name %q", sl.fqdn)
	}
	// The service's address reaches alice's node a moment later. Until
	// it has, alice's dialer does not route the address into the tailnet
	// (a connection tried then never arrives), so alice asks only once
	// her node lists the host as the way to it.
	for {
		st, err := aliceLC.Status(ctx)
		if err == nil && routesTo(st, netip.MustParsePrefix(vip+"/32")) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("alice's node never got the service's address: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for {
		id, err := tryWhoAmI(ctx, alice.HTTPClient(), "http://"+vip+"/")
		if err == nil {
			if !strings.HasPrefix(id.NodeName, "alice.") || id.Login == "" {
				t.Fatalf("the service identified alice as %+v", id)
			}
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("alice never reached the service: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type serviceListener struct{ fqdn string }

// routesTo reports whether a peer in st is where pfx is routed.
func routesTo(st *ipnstate.Status, pfx netip.Prefix) bool {
	for _, p := range st.Peer {
		if p.AllowedIPs != nil && p.AllowedIPs.ContainsFunc(func(a netip.Prefix) bool { return a == pfx }) {
			return true
		}
	}
	return false
}

// tryWhoAmI asks the identity server at url who the client is.
func tryWhoAmI(ctx context.Context, client *http.Client, url string) (identity.Identity, error) {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, "GET", url, nil)
	if err != nil {
		return identity.Identity{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return identity.Identity{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return identity.Identity{}, fmt.Errorf("%s: %s", resp.Status, b)
	}
	var id identity.Identity
	err = json.NewDecoder(resp.Body).Decode(&id)
	return id, err
}
