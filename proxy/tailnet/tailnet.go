// Package tailnet runs sluice as its own node on a Tailscale tailnet, with
// tailscale.com/tsnet: the node serves sluice at http://ai (and https with
// the tailnet's certificate), tells who each caller is with WhoIs, and
// dials providers that live on the tailnet.
//
// The node keeps its state (keys, node identity) in a directory, so a
// restart is the same node. Log upload to Tailscale is disabled.
package tailnet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"tailscale.com/client/local"
	"tailscale.com/client/tailscale/apitype"
	"tailscale.com/ipn/ipnstate"
	"tailscale.com/logtail"
	"tailscale.com/tailcfg"
	"tailscale.com/tsnet"

	"github.com/sluice-gateway/sluice/proxy/identity"
)

// DefaultHostname is the node's name when Options.Hostname is empty, so
// that clients reach sluice at http://ai.
const DefaultHostname = "ai"

// Options configure the tailnet node.
type Options struct {
	// Hostname is the node's name on the tailnet; DefaultHostname if empty.
	// If the tailnet already has a node of that name, the control server
	// gives this one a suffixed name ("ai-1").
	Hostname string
	// StateDir holds the node's state; keep it across restarts to keep
	// the node identity. If empty, "sluice/tailnet" under the user's
	// configuration directory. Give each node in one process its own.
	StateDir string
	// AuthKey joins the node to a tailnet the first time it starts; the
	// TS_AUTHKEY environment variable if empty. Once the state directory
	// holds a node, the key is not used. Without any key, Start logs a
	// login URL through Logf and waits (as long as ctx allows) for someone
	// to open it.
	AuthKey string
	// ControlURL is the coordination server; Tailscale's if empty (or the
	// TS_CONTROL_URL environment variable).
	ControlURL string
	// Ephemeral registers a node that the tailnet removes soon after it
	// goes offline.
	Ephemeral bool
	// Tags are ACL tags the node asks for ("tag:ai"); the auth key or the
	// tailnet policy must allow them.
	Tags []string
	// Logf receives messages meant for the operator: the login URL, state
	// changes. If nil, the standard logger prints them.
	Logf func(format string, args ...any)
	// DebugLogf receives the verbose logs of the tailnet engine. If nil,
	// they are discarded.
	DebugLogf func(format string, args ...any)
}

// Node is sluice's running tailnet node.
type Node struct {
	srv       *tsnet.Server
	lc        *local.Client
	tailnet   identity.Tailnet
	resolver  identity.Resolver
	transport *http.Transport
}

// Start joins the tailnet and waits until the node is up or ctx ends. On
// error nothing is left running.
func Start(ctx context.Context, opts Options) (*Node, error) {
	// sluice's traffic metadata stays on the machine: no log upload, for
	// any tsnet server in this process.
	logtail.Disable()

	dir := opts.StateDir
	if dir == "" {
		conf, err := os.UserConfigDir()
		if err != nil {
			return nil, fmt.Errorf("tailnet: no state directory given and no user configuration directory: %w", err)
		}
		dir = filepath.Join(conf, "sluice", "tailnet")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("tailnet: state directory: %w", err)
	}
	authKey := opts.AuthKey
	if authKey == "" {
		authKey = os.Getenv("TS_AUTHKEY")
	}
	hostname := opts.Hostname
	if hostname == "" {
		hostname = DefaultHostname
	}
	userLogf := opts.Logf
	if userLogf == nil {
		userLogf = log.Printf
	}
	srv := &tsnet.Server{
		Hostname:      hostname,
		Dir:           dir,
		AuthKey:       authKey,
		ControlURL:    opts.ControlURL,
		Ephemeral:     opts.Ephemeral,
		AdvertiseTags: opts.Tags,
		UserLogf:      userLogf,
		Logf:          opts.DebugLogf,
	}
	n, err := start(ctx, srv)
	if err != nil {
		srv.Close()
		return nil, fmt.Errorf("tailnet: node %q: %w", hostname, err)
	}
	return n, nil
}

func start(ctx context.Context, srv *tsnet.Server) (*Node, error) {
	st, err := srv.Up(ctx)
	if err != nil {
		// Up reports the context's error without saying it was waiting.
		if ctx.Err() != nil {
			return nil, fmt.Errorf("not up before the deadline (is the auth key valid, or is a login URL above waiting?): %w", err)
		}
		return nil, err
	}
	lc, err := srv.LocalClient()
	if err != nil {
		return nil, err
	}
	st = awaitProfiles(ctx, lc, st)
	var tn identity.Tailnet
	if ct := st.CurrentTailnet; ct != nil {
		tn = identity.Tailnet{Name: ct.Name, MagicDNSSuffix: ct.MagicDNSSuffix}
	}
	n := &Node{
		srv:      srv,
		lc:       lc,
		tailnet:  tn,
		resolver: identity.WhoIs(lc, tn),
	}
	n.transport = &http.Transport{
		// No proxy from the environment: the tailnet is the way there.
		DialContext:       n.Dial,
		ForceAttemptHTTP2: true,
		MaxIdleConns:      512,
		// As for providers on the internet (proxy's newTransport):
		// net/http's default of 2 idle connections per host would close
		// and redial most of the HTTP/1.1 connections of many concurrent
		// streams to one box; 32 kept, each about 20 KB, serve a batch of
		// requests without a dial.
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return n, nil
}

// profilesWait bounds how long Start waits for the user profiles.
const profilesWait = 10 * time.Second

// awaitProfiles waits, within profilesWait and ctx, until the node's status
// has the user profiles and tailnet name: a node restarted from its state
// reports itself running a moment before the control server has sent them,
// and WhoIs would meanwhile refuse every caller. It returns the latest
// status; if the wait ends first, the node starts anyway.
func awaitProfiles(ctx context.Context, lc *local.Client, st *ipnstate.Status) *ipnstate.Status {
	ctx, cancel := context.WithTimeout(ctx, profilesWait)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !hasProfiles(st) {
		select {
		case <-ctx.Done():
			return st
		case <-tick.C:
		}
		if next, err := lc.Status(ctx); err == nil {
			st = next
		}
	}
	return st
}

func hasProfiles(st *ipnstate.Status) bool {
	if st == nil || st.Self == nil || st.CurrentTailnet == nil || st.CurrentTailnet.Name == "" {
		return false
	}
	if st.Self.Tags != nil && st.Self.Tags.Len() > 0 {
		return true
	}
	_, ok := st.User[st.Self.UserID]
	return ok
}

// Listen listens on the node's tailnet addresses; an empty addr means
// ":80", where sluice serves http://ai.
func (n *Node) Listen(network, addr string) (net.Listener, error) {
	if addr == "" {
		addr = ":80"
	}
	ln, err := n.srv.Listen(network, addr)
	if err != nil {
		return nil, fmt.Errorf("tailnet: listen %s %s: %w", network, addr, err)
	}
	return ln, nil
}

// ListenTLS listens on the node's tailnet addresses with TLS, using the
// tailnet's certificate for the node's MagicDNS name (fetched and renewed
// on demand), and offers HTTP/2 and HTTP/1.1 in the handshake (ALPN); an
// empty addr means ":443". The tailnet must have MagicDNS and HTTPS
// certificates enabled.
//
// tsnet's own ListenTLS offers no application protocol, so a client could
// speak only HTTP/1.1 over it; this makes the same checks and serves the
// same certificate, with HTTP/2 offered first.
func (n *Node) ListenTLS(network, addr string) (net.Listener, error) {
	if addr == "" {
		addr = ":443"
	}
	if err := n.checkTLS(network); err != nil {
		return nil, fmt.Errorf("tailnet: listen with TLS %s %s: %w", network, addr, err)
	}
	ln, err := n.srv.Listen(network, addr)
	if err != nil {
		return nil, fmt.Errorf("tailnet: listen with TLS %s %s: %w", network, addr, err)
	}
	return tls.NewListener(ln, &tls.Config{GetCertificate: n.lc.GetCertificate, NextProtos: TLSProtocols}), nil
}

// TLSProtocols are the application protocols ListenTLS offers, in order of
// preference.
var TLSProtocols = []string{"h2", "http/1.1"}

// checkTLS tells why the node cannot serve TLS, if it cannot: the
// tailnet needs MagicDNS for the name and HTTPS for its certificate.
func (n *Node) checkTLS(network string) error {
	if network != "tcp" {
		return fmt.Errorf("only tcp is supported, not %q", network)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := n.lc.StatusWithoutPeers(ctx)
	if err != nil {
		return err
	}
	if st.CurrentTailnet == nil || !st.CurrentTailnet.MagicDNSEnabled {
		return errors.New("the tailnet must have MagicDNS enabled (the DNS page of the admin console); see https://tailscale.com/s/https")
	}
	if len(st.CertDomains) == 0 {
		return errors.New("the tailnet must have HTTPS certificates enabled (the DNS page of the admin console); see https://tailscale.com/s/https")
	}
	return nil
}

// Resolver identifies the callers of connections accepted by Listen and
// ListenTLS, with WhoIs (see identity.WhoIs).
func (n *Node) Resolver() identity.Resolver { return n.resolver }

// Tailnet names the tailnet the node is in.
func (n *Node) Tailnet() identity.Tailnet { return n.tailnet }

// Self returns the node's own identity, as other nodes of the tailnet see
// it: its login (or tags), stable ID, MagicDNS name and tailnet.
func (n *Node) Self(ctx context.Context) (identity.Identity, error) {
	st, err := n.lc.Status(ctx)
	if err != nil {
		return identity.Identity{}, fmt.Errorf("tailnet: status: %w", err)
	}
	ps := st.Self
	if ps == nil {
		return identity.Identity{}, errors.New("tailnet: status has no self node")
	}
	node := &tailcfg.Node{
		StableID: ps.ID,
		Name:     ps.DNSName,
		Hostinfo: (&tailcfg.Hostinfo{Hostname: ps.HostName}).View(),
	}
	if ps.Tags != nil {
		node.Tags = ps.Tags.AsSlice()
	}
	res := &apitype.WhoIsResponse{Node: node}
	if up, ok := st.User[ps.UserID]; ok {
		res.UserProfile = &up
	}
	id, err := identity.FromWhoIs(res, n.tailnet)
	if err != nil {
		return identity.Identity{}, fmt.Errorf("tailnet: self: %w", err)
	}
	return id, nil
}

// Ready reports whether the node is up on the tailnet: nil, or why not.
// It is a local call to the node's own engine, cheap enough for an
// orchestrator's readiness probe.
func (n *Node) Ready(ctx context.Context) error {
	st, err := n.lc.StatusWithoutPeers(ctx)
	if err != nil {
		return errors.New("tailnet node status unavailable")
	}
	if st.BackendState != "Running" {
		return fmt.Errorf("tailnet node is %s, not Running", st.BackendState)
	}
	return nil
}

// Addrs returns the node's tailnet IPv4 and IPv6 addresses.
func (n *Node) Addrs() (ip4, ip6 netip.Addr) { return n.srv.TailscaleIPs() }

// Dial connects to address ("gpu-box:8000", "100.64.0.7:443") over the
// tailnet; names resolve with MagicDNS.
func (n *Node) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	return n.srv.Dial(ctx, network, address)
}

// Transport is the HTTP transport for providers with "tailnet": true: it
// dials over the tailnet and keeps connections for reuse. Shared; do not
// modify.
func (n *Node) Transport() *http.Transport { return n.transport }

// HTTPClient returns a client that reaches servers over the tailnet, using
// Transport. It has no timeout of its own; bound requests with their
// context.
func (n *Node) HTTPClient() *http.Client { return &http.Client{Transport: n.transport} }

// Server is the underlying tsnet server, for what this package does not
// cover (tests use it to wait for the relay connection).
func (n *Node) Server() *tsnet.Server { return n.srv }

// Close leaves the tailnet: listeners close and connections through the
// node end. An ephemeral node is removed from the tailnet soon after.
func (n *Node) Close() error {
	n.transport.CloseIdleConnections()
	if err := n.srv.Close(); err != nil {
		return fmt.Errorf("tailnet: close: %w", err)
	}
	return nil
}
