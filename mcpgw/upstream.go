package mcpgw

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/sluice-gateway/sluice/policy"
)

// errNoTailnet reports a "tailnet": true connector on a gateway that is
// not on a tailnet.
var errNoTailnet = errors.New("the connector is reached over the tailnet, but this gateway is not running on a tailnet")

// fingerprint identifies what a connection to k depends on (URL, protocol,
// transport, credential), so a reload that changes any of it reconnects.
// It is a hash: credentials are never kept in clear outside the config.
func fingerprint(k *policy.Connector) string {
	b, _ := json.Marshal(struct {
		URL, Protocol string
		Tailnet       bool
		Auth          policy.ConnectorAuth
	}{k.URL, k.Protocol, k.Tailnet, k.Auth})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// httpClient returns the client that reaches k with its credential.
func (g *Gateway) httpClient(k *policy.Connector) (*http.Client, error) {
	base := g.opts.Transport
	if k.Tailnet {
		if base = g.opts.TailnetTransport; base == nil {
			return nil, errNoTailnet
		}
	}
	return &http.Client{Transport: &authTransport{base: base, auth: k.Auth, tokens: g.tokens.source(k, base)}}, nil
}

// authTransport sets a connector's credential on every request.
type authTransport struct {
	base   http.RoundTripper
	auth   policy.ConnectorAuth
	tokens oauth2.TokenSource // oauth2_client_credentials only
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	switch t.auth.Type {
	case policy.ConnectorAuthBearer:
		req.Header.Set("Authorization", "Bearer "+t.auth.Token)
	case policy.ConnectorAuthAPIKey:
		req.Header.Set(t.auth.Header, t.auth.Key)
	case policy.ConnectorAuthBasic:
		req.SetBasicAuth(t.auth.Username, t.auth.Password)
	case policy.ConnectorAuthClientCredentials:
		tok, err := t.tokens.Token()
		if err != nil {
			// The token endpoint's answer may echo the secret: say only
			// that the token could not be had.
			return nil, fmt.Errorf("fetching an access token from the connector's token_url failed: %w", redactOAuth(err))
		}
		tok.SetAuthHeader(req)
	}
	return t.base.RoundTrip(req)
}

// redactOAuth keeps the kind of an OAuth error but not the token
// endpoint's body.
func redactOAuth(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		return fmt.Errorf("token endpoint answered HTTP %d %s", re.Response.StatusCode, re.ErrorCode)
	}
	return err
}

// tokenCache keeps one cached token source per client-credentials
// connector, across reloads while its settings stay the same.
type tokenCache struct {
	mu      sync.Mutex
	sources map[string]oauth2.TokenSource // by fingerprint
}

func newTokenCache() *tokenCache { return &tokenCache{sources: make(map[string]oauth2.TokenSource)} }

func (c *tokenCache) source(k *policy.Connector, base http.RoundTripper) oauth2.TokenSource {
	if k.Auth.Type != policy.ConnectorAuthClientCredentials {
		return nil
	}
	fp := fingerprint(k)
	c.mu.Lock()
	defer c.mu.Unlock()
	if ts, ok := c.sources[fp]; ok {
		return ts
	}
	cc := clientcredentials.Config{ClientID: k.Auth.ClientID, ClientSecret: k.Auth.ClientSecret, TokenURL: k.Auth.TokenURL, Scopes: k.Auth.Scopes}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: base})
	ts := cc.TokenSource(ctx) // reuses a token until it expires
	c.sources[fp] = ts
	return ts
}

// pool holds the gateway's MCP client sessions with connectors: one per
// caller and connector, so that connectors keeping per-session state never
// mix callers.
type pool struct {
	g  *Gateway
	mu sync.Mutex
	m  map[poolKey]*upstream
}

type poolKey struct{ login, id string }

type upstream struct {
	fp     string
	ready  chan struct{} // closed once connected or failed
	sess   *mcp.ClientSession
	err    error
	failed time.Time // when err was set
	cancel context.CancelFunc
}

// retryFailed is how long a connector that could not be connected to is
// reported as down before the next attempt, so that one that does not
// answer does not hold every list for ConnectTimeout.
const retryFailed = 5 * time.Second

func newPool(g *Gateway) *pool { return &pool{g: g, m: make(map[poolKey]*upstream)} }

// session returns a connected session with k for login, connecting when
// there is none (or the connector's settings changed).
func (p *pool) session(ctx context.Context, login string, k *policy.Connector) (*mcp.ClientSession, error) {
	key := poolKey{login, k.ID}
	fp := fingerprint(k)
	p.mu.Lock()
	u := p.m[key]
	if u != nil && (u.fp != fp || u.stale()) {
		delete(p.m, key)
		go u.close()
		u = nil
	}
	if u == nil {
		u = &upstream{fp: fp, ready: make(chan struct{})}
		p.m[key] = u
		go p.connect(u, k)
	}
	p.mu.Unlock()
	select {
	case <-u.ready:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	if u.err != nil {
		return nil, u.err
	}
	return u.sess, nil
}

// stale reports a failed connection whose failure is old enough to try
// again.
func (u *upstream) stale() bool {
	select {
	case <-u.ready:
		return u.err != nil && time.Since(u.failed) >= retryFailed
	default:
		return false
	}
}

// connect opens u's session. The session outlives the request that asked
// for it, so it runs under a context of its own, bounded only while
// connecting.
func (p *pool) connect(u *upstream, k *policy.Connector) {
	defer close(u.ready)
	ctx, cancel := context.WithCancel(context.Background())
	u.cancel = cancel
	client, err := p.g.httpClient(k)
	if err != nil {
		u.err = err
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c := mcp.NewClient(&mcp.Implementation{Name: "sluice"}, nil)
		// Streamable HTTP first; a server that refuses it may speak the
		// older SSE transport.
		u.sess, u.err = c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: k.URL, HTTPClient: client, MaxRetries: -1, DisableStandaloneSSE: true}, nil)
		if u.err != nil && ctx.Err() == nil {
			var sseErr error
			u.sess, sseErr = c.Connect(ctx, &mcp.SSEClientTransport{Endpoint: k.URL, HTTPClient: client}, nil)
			if sseErr == nil {
				u.err = nil
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(p.g.opts.ConnectTimeout):
		cancel()
		<-done
		if u.sess != nil {
			_ = u.sess.Close()
		}
		u.sess, u.err = nil, fmt.Errorf("not connected within %s", p.g.opts.ConnectTimeout)
	}
	if u.err != nil {
		cancel()
		u.err = fmt.Errorf("connector %s: %w", k.ID, u.err)
		u.failed = time.Now()
	}
}

// drop forgets u (if it is still the session for key) and closes it: the
// next use connects again.
func (p *pool) drop(key poolKey, u *upstream) {
	p.mu.Lock()
	if p.m[key] == u {
		delete(p.m, key)
	}
	p.mu.Unlock()
	go u.close()
}

func (p *pool) dropSession(login, id string, sess *mcp.ClientSession) {
	key := poolKey{login, id}
	p.mu.Lock()
	u := p.m[key]
	p.mu.Unlock()
	if u != nil && u.sess == sess {
		p.drop(key, u)
	}
}

func (p *pool) closeAll() {
	p.mu.Lock()
	all := p.m
	p.m = make(map[poolKey]*upstream)
	p.mu.Unlock()
	for _, u := range all {
		u.close()
	}
}

func (u *upstream) close() {
	<-u.ready
	if u.sess != nil {
		_ = u.sess.Close()
	}
	if u.cancel != nil {
		u.cancel()
	}
}
