package tailnet

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	"tailscale.com/tsnet"
)

// ServiceListener is the listener of a Tailscale Service hosted by the
// node (see Node.ListenService).
type ServiceListener struct {
	net.Listener
	// FQDN is the service's MagicDNS name ("ai.example.ts.net").
	FQDN string
}

// serviceHeaderTimeout bounds the wait for the PROXY header the node's
// forwarder sends first on each connection.
const serviceHeaderTimeout = 5 * time.Second

// ListenService advertises the node as one host of the Tailscale Service
// name ("svc:ai") on TCP port (80), so that several sluice replicas, each
// its own node, answer at one name: http://ai. Tailscale sends each new
// connection to a live host. The node must be tagged (an auth key with
// tags, or Options.Tags), the service must be defined in the tailnet's
// admin console with that port, and an admin or an auto-approval rule must
// approve each host. With terminateTLS the node terminates TLS with the
// service's certificate (port 443, the tailnet's HTTPS certificates on)
// and the listener carries plain HTTP.
//
// The node forwards a service connection to a loopback socket of this
// process (that is how tsnet serves services), preceded by a PROXY
// protocol v2 header with the caller's tailnet address; the returned
// listener requires and reads that header, so connections report the
// caller's address and the node's Resolver identifies callers with WhoIs
// as on Listen. A connection without the header, or whose source is not a
// tailnet address, is refused. The loopback socket is reachable by local
// processes of the machine, which could send a header of their own: run
// replicas where no untrusted process runs (a container of their own).
func (n *Node) ListenService(name string, port uint16, terminateTLS bool) (*ServiceListener, error) {
	sl, err := n.srv.ListenService(name, tsnet.ServiceModeTCP{Port: port, TerminateTLS: terminateTLS, PROXYProtocolVersion: 2})
	if err != nil {
		return nil, fmt.Errorf("tailnet: host service %s on port %d: %w", name, port, err)
	}
	return &ServiceListener{Listener: withProxyHeader(sl), FQDN: sl.FQDN}, nil
}

// withProxyHeader wraps a listener whose connections start with a PROXY
// protocol header from the node: required, and naming a tailnet source.
func withProxyHeader(ln net.Listener) net.Listener {
	return &proxyproto.Listener{
		Listener: ln,
		ConnPolicy: func(proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
			return proxyproto.REQUIRE, nil
		},
		ValidateHeader:    tailnetSource,
		ReadHeaderTimeout: serviceHeaderTimeout,
	}
}

// tailnet address ranges: 100.64.0.0/10 and fd7a:115c:a1e0::/48.
var (
	tailnetV4 = netip.MustParsePrefix("100.64.0.0/10")
	tailnetV6 = netip.MustParsePrefix("fd7a:115c:a1e0::/48")
)

// tailnetSource refuses a PROXY header whose source is not a tailnet
// address.
func tailnetSource(h *proxyproto.Header) error {
	src, ok := h.SourceAddr.(*net.TCPAddr)
	if !ok {
		return fmt.Errorf("tailnet service: PROXY header without a TCP source")
	}
	ip, ok := netip.AddrFromSlice(src.IP)
	if !ok {
		return fmt.Errorf("tailnet service: PROXY header with an unreadable source")
	}
	ip = ip.Unmap()
	if !tailnetV4.Contains(ip) && !tailnetV6.Contains(ip) {
		return fmt.Errorf("tailnet service: PROXY header source %s is not a tailnet address", ip)
	}
	return nil
}
