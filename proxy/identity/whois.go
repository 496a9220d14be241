package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"tailscale.com/client/local"
	"tailscale.com/client/tailscale/apitype"
	"tailscale.com/tailcfg"
)

// WhoIsClient looks up the tailnet node and user behind a remote address.
// tailscale.com/client/local.Client (what tsnet.Server.LocalClient returns)
// satisfies it.
type WhoIsClient interface {
	WhoIs(ctx context.Context, remoteAddr string) (*apitype.WhoIsResponse, error)
}

// Tailnet names the tailnet sluice's own node is in, as its status reports
// it (ipnstate.TailnetStatus Name and MagicDNSSuffix).
type Tailnet struct {
	// Name is the tailnet's name ("example.com").
	Name string
	// MagicDNSSuffix is the DNS suffix of its nodes ("tail1234.ts.net").
	MagicDNSSuffix string
}

// WhoIs returns a Resolver for tailnet mode: it asks client who is behind
// the request's RemoteAddr, a connection accepted on sluice's own tailnet
// node. home is that node's tailnet; a caller whose MagicDNS name is under
// home's suffix (or who has no DNS name) is in home.Name, a caller from
// another tailnet (a device shared in) is named by its own DNS suffix.
//
// A remote address WhoIs does not know, or a node without a login, is
// ErrUnknownCaller. Other failures of the lookup (the local client is down)
// are returned wrapped and are not ErrUnknownCaller; the request must be
// refused all the same.
func WhoIs(client WhoIsClient, home Tailnet) Resolver {
	return &whoIs{client: client, home: home}
}

var _ Resolver = (*whoIs)(nil)

type whoIs struct {
	client WhoIsClient
	home   Tailnet
}

func (w *whoIs) Identify(r *http.Request) (Identity, error) {
	res, err := w.client.WhoIs(r.Context(), whoIsAddr(r.RemoteAddr))
	if err != nil {
		if errors.Is(err, local.ErrPeerNotFound) {
			return Identity{}, fmt.Errorf("whois %s: no tailnet node: %w", r.RemoteAddr, ErrUnknownCaller)
		}
		return Identity{}, fmt.Errorf("whois %s: %w", r.RemoteAddr, err)
	}
	id, err := FromWhoIs(res, w.home)
	if err != nil {
		return Identity{}, fmt.Errorf("whois %s: %w", r.RemoteAddr, err)
	}
	return id, nil
}

// whoIsAddr is what to ask WhoIs about a remote address. A tailnet peer is
// known by its IP alone. Only a loopback address needs its port: it names a
// connection a local tailscaled proxied (SOCKS5 or HTTP proxy in userspace
// networking), and asking about it with a port makes WhoIs wait a few
// hundred milliseconds for that mapping when there is none.
func whoIsAddr(remoteAddr string) string {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil || ap.Addr().Unmap().IsLoopback() {
		return remoteAddr
	}
	return ap.Addr().Unmap().String()
}

// FromWhoIs converts a WhoIs answer to an Identity; home is the tailnet of
// the node that asked (see WhoIs). A tagged node's Login is its sorted tags
// joined by commas, whatever user profile comes with it. An answer without
// a node, or an untagged node without a user login, is ErrUnknownCaller.
func FromWhoIs(res *apitype.WhoIsResponse, home Tailnet) (Identity, error) {
	if res == nil || res.Node == nil {
		return Identity{}, fmt.Errorf("answer has no node: %w", ErrUnknownCaller)
	}
	n := res.Node
	id := Identity{
		NodeID:   string(n.StableID),
		NodeName: nodeName(n),
		Tailnet:  tailnetOf(n, home),
	}
	setCaps(&id, res.CapMap)
	if n.IsTagged() {
		id.Tags = slices.Clone(n.Tags)
		slices.Sort(id.Tags)
		id.Tags = slices.Compact(id.Tags)
		id.Login = strings.Join(id.Tags, ",")
		id.DisplayName = shortName(n)
		return id, nil
	}
	if res.UserProfile == nil || res.UserProfile.LoginName == "" {
		return Identity{}, fmt.Errorf("node %s (%s) has no user login: %w", id.NodeName, id.NodeID, ErrUnknownCaller)
	}
	id.Login = res.UserProfile.LoginName
	id.DisplayName = res.UserProfile.DisplayName
	if len(res.UserProfile.Groups) > 0 {
		id.Groups = slices.Clone(res.UserProfile.Groups)
		slices.Sort(id.Groups)
	}
	return id, nil
}

// apertureCap is the app capability the tailnet policy file grants sluice's
// capabilities under (policy.ApertureCap; identity does not import policy).
const apertureCap = "tailscale.com/cap/aperture"

// setCaps copies the app capabilities of a WhoIs answer: the aperture ones
// for policy, the others for hooks. Tailscale's own peer capabilities
// ("https://tailscale.com/cap/...") are not app grants and are skipped.
func setCaps(id *Identity, m tailcfg.PeerCapMap) {
	for name, vals := range m {
		if n := string(name); strings.Contains(n, "://") || !strings.Contains(n, "/cap/") || len(vals) == 0 {
			continue
		}
		raws := make([]json.RawMessage, len(vals))
		for i, v := range vals {
			raws[i] = json.RawMessage(v)
		}
		if name == apertureCap {
			id.Caps = raws
			continue
		}
		if id.AppCaps == nil {
			id.AppCaps = make(map[string][]json.RawMessage)
		}
		id.AppCaps[string(name)] = raws
	}
}

// nodeName is the node's MagicDNS name without the trailing dot, or its
// host name when it has none.
func nodeName(n *tailcfg.Node) string {
	if name := strings.TrimSuffix(n.Name, "."); name != "" {
		return name
	}
	if n.Hostinfo.Valid() {
		return n.Hostinfo.Hostname()
	}
	return ""
}

// shortName is the first label of the node's name.
func shortName(n *tailcfg.Node) string {
	if n.ComputedName != "" {
		return n.ComputedName
	}
	name, _, _ := strings.Cut(nodeName(n), ".")
	return name
}

// tailnetOf names the tailnet a node belongs to, as far as its DNS name
// tells: home's name when the name is under home's suffix or has no suffix,
// else the suffix itself.
func tailnetOf(n *tailcfg.Node, home Tailnet) string {
	fqdn := strings.TrimSuffix(n.Name, ".")
	_, suffix, ok := strings.Cut(fqdn, ".")
	if !ok || suffix == "" || home.MagicDNSSuffix == "" || strings.EqualFold(suffix, home.MagicDNSSuffix) {
		if home.Name != "" {
			return home.Name
		}
		return suffix
	}
	return suffix
}
