// Package identity tells who is calling sluice. In tailnet mode the caller
// is the tailnet node (and its user) behind the connection, found with the
// local Tailscale client's WhoIs; outside a tailnet it is a fixed local
// login, or the login that `tailscale serve` on the same machine puts in
// its Tailscale-User-* headers, trusted on a Unix socket (ListenUnix) only
// from tailscaled's uid.
//
// A Resolver either returns an Identity or an error, and the proxy never
// consults policy for a request whose caller could not be identified.
package identity

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
)

// Identity is the caller of one request, as policy, the request log and
// hook metadata see it.
type Identity struct {
	// Login is the user's login name ("alice@example.com"). A tagged
	// device has no user: its Login is its sorted tags joined by commas
	// ("tag:ci,tag:server"), which grants match with "tag:NAME" in src.
	Login string
	// DisplayName is the user's name for people ("Alice Smith"), or the
	// device's name when it is tagged. It may be empty.
	DisplayName string
	// NodeID is the stable ID of the caller's tailnet node ("nXYZ123CNTRL");
	// empty outside tailnet mode.
	NodeID string
	// NodeName is the caller node's MagicDNS name without the trailing
	// dot ("laptop.tail1234.ts.net"), or its host name when the tailnet
	// gives it no DNS name; empty outside tailnet mode.
	NodeName string
	// Tailnet is the name of the caller's tailnet ("example.com"); empty
	// when unknown.
	Tailnet string
	// Tags are the caller node's ACL tags, sorted; nil for a user's device.
	Tags []string
	// Groups are the user's groups the tailnet reports to this node
	// ("group:eng", or SCIM groups by email; needs the
	// tailscale.com/visible-groups node attribute), sorted.
	Groups []string
	// Caps are the caller's "tailscale.com/cap/aperture" capabilities
	// from the tailnet policy file (WhoIs CapMap), as raw JSON objects;
	// policy unions them with the configuration's grants.
	Caps []json.RawMessage
	// AppCaps are the caller's other app capabilities from the tailnet
	// policy file, by name; sluice only hands them to hooks.
	AppCaps map[string][]json.RawMessage
}

// Tagged reports whether the caller is a tagged device rather than a user.
func (id Identity) Tagged() bool { return len(id.Tags) > 0 }

// Resolver identifies the caller of a request. An error means the request
// must be refused without consulting policy; errors.Is tells the reason
// (ErrUnknownCaller, ErrUntrustedHeaders) from a failure of the lookup
// itself.
type Resolver interface {
	Identify(r *http.Request) (Identity, error)
}

// ResolverFunc adapts a function to the Resolver interface.
type ResolverFunc func(r *http.Request) (Identity, error)

var _ Resolver = ResolverFunc(nil)

// Identify calls f(r).
func (f ResolverFunc) Identify(r *http.Request) (Identity, error) { return f(r) }

var (
	// ErrUnknownCaller means the caller could not be identified: WhoIs
	// knows no tailnet node behind the remote address, the node has no
	// usable login, or no identity came with a request that needs one.
	// The proxy answers 403.
	ErrUnknownCaller = errors.New("caller could not be identified")
	// ErrUntrustedHeaders means a peer sent Tailscale-User-* identity
	// headers, which only a `tailscale serve` on the same machine may set,
	// without being it: over a Unix socket a process of another uid than
	// tailscaled's, over TCP a peer not on the loopback interface. The
	// proxy answers 403.
	ErrUntrustedHeaders = errors.New("identity headers (Tailscale-User-*) are only accepted from the local tailscaled")
)

// TagsLogin returns the Login of a tagged device: its tags, sorted and
// joined by commas. It does not modify tags.
func TagsLogin(tags []string) string {
	sorted := slices.Clone(tags)
	slices.Sort(sorted)
	return strings.Join(sorted, ",")
}

type contextKey struct{}

// NewContext returns a copy of ctx that carries id, for code further down
// a request's path (handlers, hooks, the dashboard) to read with
// FromContext.
func NewContext(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, contextKey{}, id)
}

// FromContext returns the Identity stored in ctx by NewContext, and
// whether there was one.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(contextKey{}).(Identity)
	return id, ok
}
