package identity

import (
	"fmt"
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

// TrustedHeaders returns a Resolver for sluice running behind `tailscale
// serve` on the same machine, which proxies tailnet requests to sluice over
// loopback with the caller's identity in Tailscale-User-Login and
// Tailscale-User-Name (Tailscale-User-Profile-Pic is ignored).
//
// The headers are trusted only from a loopback peer (r.RemoteAddr):
//   - a non-loopback peer that sends any of them is refused with
//     ErrUntrustedHeaders;
//   - a loopback request with Tailscale-User-Login is that login;
//   - a request marked Tailscale-Funnel-Request comes from the public
//     internet and is refused with ErrUnknownCaller;
//   - any other request, from any peer, carries no identity (a tagged
//     device, which `tailscale serve` sends without headers, or a program
//     talking to sluice directly): it goes to fallback, or is refused with
//     ErrUnknownCaller when fallback is nil.
//
// A nil fallback is the safe choice: with Local as fallback, tagged devices
// and every local program act as the local user.
func TrustedHeaders(fallback Resolver) Resolver {
	return &trustedHeaders{fallback: fallback}
}

var _ Resolver = (*trustedHeaders)(nil)

type trustedHeaders struct {
	fallback Resolver
}

func (t *trustedHeaders) Identify(r *http.Request) (Identity, error) {
	if !isLoopbackPeer(r.RemoteAddr) {
		for _, h := range identityHeaders {
			if _, ok := r.Header[h]; ok {
				return Identity{}, fmt.Errorf("peer %s sent %s: %w", r.RemoteAddr, h, ErrUntrustedHeaders)
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

func (t *trustedHeaders) fall(r *http.Request) (Identity, error) {
	if t.fallback == nil {
		return Identity{}, fmt.Errorf("no %s header from %s: %w", HeaderUserLogin, r.RemoteAddr, ErrUnknownCaller)
	}
	return t.fallback.Identify(r)
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
