package proxy

import (
	"net/http"
	"net/url"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy/h2c"
)

// upstreamTransports are the round trippers to providers: over the
// internet or the tailnet, each in an HTTP/1.1 variant (the default for
// http:// base URLs, which also negotiates HTTP/2 with https:// ones) and
// a cleartext HTTP/2 one for providers with "h2c": true.
type upstreamTransports struct {
	internet, tailnet       http.RoundTripper
	internetH2C, tailnetH2C http.RoundTripper
}

func newUpstreamTransports(internet, tailnet http.RoundTripper) upstreamTransports {
	return upstreamTransports{
		internet: internet, tailnet: tailnet,
		internetH2C: h2cTransport(internet), tailnetH2C: h2cTransport(tailnet),
	}
}

// forProvider is the round tripper for a request to p at target; nil for
// a tailnet provider when the gateway is not on a tailnet.
func (ts upstreamTransports) forProvider(p *policy.Provider, target *url.URL) http.RoundTripper {
	h2c := p.H2C && target.Scheme == "http"
	switch {
	case p.Tailnet && h2c:
		return ts.tailnetH2C
	case p.Tailnet:
		return ts.tailnet
	case h2c:
		return ts.internetH2C
	}
	return ts.internet
}

// h2cTransport returns a round tripper that speaks HTTP/2 with prior
// knowledge to http:// URLs over connections rt makes (its dialer and
// timeouts): no upgrade dance, and many streams on one connection
// instead of one connection per stream (see package h2c for why not
// net/http's own h2c). Round trippers that are not an *http.Transport (a
// test's) are returned as they are.
func h2cTransport(rt http.RoundTripper) http.RoundTripper {
	t, ok := rt.(*http.Transport)
	if !ok || t == nil {
		return rt
	}
	return h2c.New(t)
}
