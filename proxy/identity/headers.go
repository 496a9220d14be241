package identity

import (
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Header names `tailscale serve` sets on the requests it proxies for a
// user's device. Values that are not ASCII arrive RFC 2047 Q-encoded.
const (
	HeaderUserLogin      = "Tailscale-User-Login"
	HeaderUserName       = "Tailscale-User-Name"
	HeaderUserProfilePic = "Tailscale-User-Profile-Pic"
	// HeaderFunnelRequest marks a request that came from the public
	// internet through Tailscale Funnel: it has no tailnet identity.
	HeaderFunnelRequest = "Tailscale-Funnel-Request"
)

// identityHeaders are the headers only a local `tailscale serve` may send.
var identityHeaders = []string{HeaderUserLogin, HeaderUserName, HeaderUserProfilePic, HeaderFunnelRequest}

// HeaderTrust says whose identity headers TrustedHeaders believes.
type HeaderTrust struct {
	// PeerUID is the user ID tailscaled runs as. On a connection accepted
	// by a UnixListener (and carried by ConnContext) identity headers are
	// trusted only when the peer process has this uid.
	PeerUID uint32
	// Fallback identifies requests that carry no identity; nil refuses
	// them with ErrUnknownCaller.
	Fallback Resolver
	// Logger, when set, is told of every request refused because its
	// peer may not send identity headers.
	Logger *slog.Logger
}

// TrustedHeaders returns a Resolver for sluice running behind `tailscale
// serve` on the same machine, which proxies tailnet requests to sluice with
// the caller's identity in Tailscale-User-Login and Tailscale-User-Name
// (Tailscale-User-Profile-Pic is ignored).
//
// Whether the peer may send those headers depends on the connection:
//   - over a Unix socket (ListenUnix, with ConnContext on the server), only
//     a peer whose uid, read with SO_PEERCRED when the connection was
//     accepted, is trust.PeerUID: the local tailscaled, not any process
//     that can reach the socket;
//   - over TCP, any loopback peer (r.RemoteAddr). Every local process and
//     OS user can then claim any identity: prefer the Unix socket.
//
// Then:
//   - a peer that may not send identity headers and sends one of them is
//     refused with ErrUntrustedHeaders;
//   - a trusted request with Tailscale-User-Login is that login;
//   - a request marked Tailscale-Funnel-Request comes from the public
//     internet and is refused with ErrUnknownCaller;
//   - any other request, from any peer, carries no identity (a tagged
//     device, which `tailscale serve` sends without headers, or a program
//     talking to sluice directly): it goes to trust.Fallback, or is refused
//     with ErrUnknownCaller when there is none.
//
// A nil Fallback is the safe choice: with Local as fallback, tagged devices
// and every local program act as the local user.
func TrustedHeaders(trust HeaderTrust) Resolver {
	return &trustedHeaders{trust: trust}
}

var _ Resolver = (*trustedHeaders)(nil)

type trustedHeaders struct {
	trust HeaderTrust
}

func (t *trustedHeaders) Identify(r *http.Request) (Identity, error) {
	if why := t.untrustedPeer(r); why != "" {
		for _, h := range identityHeaders {
			if _, ok := r.Header[h]; ok {
				if t.trust.Logger != nil {
					t.trust.Logger.Warn("refused identity headers from an untrusted peer", "peer", why, "header", h, "path", r.URL.Path)
				}
				return Identity{}, fmt.Errorf("%s sent %s: %w", why, h, ErrUntrustedHeaders)
			}
		}
		return t.fall(r)
	}
	if _, ok := r.Header[HeaderFunnelRequest]; ok {
		return Identity{}, fmt.Errorf("request from the public internet through Tailscale Funnel: %w", ErrUnknownCaller)
	}
	login, present, err := headerValue(r.Header, HeaderUserLogin)
	if err != nil {
		return Identity{}, err
	}
	if !present {
		return t.fall(r)
	}
	if login == "" {
		return Identity{}, fmt.Errorf("empty %s header: %w", HeaderUserLogin, ErrUnknownCaller)
	}
	if strings.HasPrefix(login, "tag:") || strings.Contains(login, ",") {
		return Identity{}, fmt.Errorf("%s %q is not a user login: %w", HeaderUserLogin, login, ErrUnknownCaller)
	}
	name, _, err := headerValue(r.Header, HeaderUserName)
	if err != nil {
		return Identity{}, err
	}
	return Identity{Login: login, DisplayName: name}, nil
}

// untrustedPeer returns "" when r's peer may send identity headers, else
// the peer as the refusal names it.
func (t *trustedHeaders) untrustedPeer(r *http.Request) string {
	p, unix, err := PeerFromContext(r.Context())
	switch {
	case unix && err != nil:
		return fmt.Sprintf("a Unix socket peer whose credentials are unknown (%v)", err)
	case unix && p.UID != t.trust.PeerUID:
		return fmt.Sprintf("Unix socket peer uid %d (pid %d), not the trusted peer uid %d,", p.UID, p.PID, t.trust.PeerUID)
	case unix:
		return ""
	case isLoopbackPeer(r.RemoteAddr):
		return ""
	default:
		return "peer " + r.RemoteAddr
	}
}

func (t *trustedHeaders) fall(r *http.Request) (Identity, error) {
	if t.trust.Fallback == nil {
		return Identity{}, fmt.Errorf("no %s header from %s: %w", HeaderUserLogin, peerName(r), ErrUnknownCaller)
	}
	return t.trust.Fallback.Identify(r)
}

var wordDecoder mime.WordDecoder

// headerValue returns the decoded value of a header that `tailscale serve`
// sets once, and whether it is present. More than one value, an
// undecodable one, or one with control characters is an error: serve
// replaces whatever the client sent and encodes what it sets, so any of
// these means the request did not come through it.
func headerValue(h http.Header, name string) (value string, present bool, err error) {
	vs, ok := h[name]
	if !ok {
		return "", false, nil
	}
	if len(vs) != 1 {
		return "", true, fmt.Errorf("%d %s headers: %w", len(vs), name, ErrUnknownCaller)
	}
	v, err := wordDecoder.DecodeHeader(vs[0])
	if err != nil {
		return "", true, fmt.Errorf("%s header: %w: %w", name, err, ErrUnknownCaller)
	}
	if !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
		return "", true, fmt.Errorf("%s header %q has control characters or is not UTF-8: %w", name, v, ErrUnknownCaller)
	}
	return strings.TrimSpace(v), true, nil
}
