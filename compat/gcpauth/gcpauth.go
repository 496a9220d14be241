// Package gcpauth turns a Vertex provider's "keyfile::" API key (a Google
// service-account JSON key, raw or base64) into OAuth access tokens, minted
// at the key's token_uri with a signed JWT assertion, cached and refreshed
// before they expire.
package gcpauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/jwt"
)

// KeyfilePrefix marks an API key that holds a service-account key.
const KeyfilePrefix = "keyfile::"

// DefaultScope is the OAuth scope Vertex AI accepts.
const DefaultScope = "https://www.googleapis.com/auth/cloud-platform"

// DefaultTokenURI is used when a key names no token_uri.
const DefaultTokenURI = "https://oauth2.googleapis.com/token"

// ErrKeyfile reports a keyfile:: key that cannot be used.
var ErrKeyfile = errors.New("invalid service-account keyfile")

// IsKeyfile reports whether an API key is a keyfile:: key.
func IsKeyfile(apikey string) bool { return strings.HasPrefix(apikey, KeyfilePrefix) }

// Key is a parsed service-account key.
type Key struct {
	ProjectID    string
	ClientEmail  string
	PrivateKeyID string
	TokenURI     string
	privateKey   []byte
}

// ParseKeyfile parses a keyfile:: API key (the prefix is optional): the
// service-account JSON, raw or base64-encoded (standard or URL alphabet,
// padded or not).
func ParseKeyfile(apikey string) (*Key, error) {
	s := strings.TrimSpace(strings.TrimPrefix(apikey, KeyfilePrefix))
	if s == "" {
		return nil, fmt.Errorf("%w: empty", ErrKeyfile)
	}
	raw := []byte(s)
	if s[0] != '{' {
		dec, err := decodeBase64(s)
		if err != nil {
			return nil, fmt.Errorf("%w: neither JSON nor base64: %w", ErrKeyfile, err)
		}
		raw = dec
	}
	var v struct {
		Type         string `json:"type"`
		ProjectID    string `json:"project_id"`
		PrivateKeyID string `json:"private_key_id"`
		PrivateKey   string `json:"private_key"`
		ClientEmail  string `json:"client_email"`
		TokenURI     string `json:"token_uri"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyfile, err)
	}
	if v.Type != "" && v.Type != "service_account" {
		return nil, fmt.Errorf("%w: type %q, want service_account", ErrKeyfile, v.Type)
	}
	if v.ClientEmail == "" || v.PrivateKey == "" {
		return nil, fmt.Errorf("%w: client_email and private_key are required", ErrKeyfile)
	}
	k := &Key{ProjectID: v.ProjectID, ClientEmail: v.ClientEmail, PrivateKeyID: v.PrivateKeyID,
		TokenURI: v.TokenURI, privateKey: []byte(v.PrivateKey)}
	if k.TokenURI == "" {
		k.TokenURI = DefaultTokenURI
	}
	return k, nil
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s)
	var firstErr error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(s)
		if err == nil {
			return b, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

// Options configure a TokenSource.
type Options struct {
	// Client makes the token requests; nil means a client with a 30s
	// timeout.
	Client *http.Client
	// Scopes default to DefaultScope.
	Scopes []string
	// RefreshBefore is how long before expiry a token is replaced; it is
	// capped at half the token's lifetime. Zero means 5 minutes.
	RefreshBefore time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// TokenSource mints and caches access tokens for one key. It is safe for
// concurrent use; concurrent callers share one token request.
type TokenSource struct {
	key  *Key
	opts Options
	conf *jwt.Config

	mu        sync.Mutex
	token     string
	expiry    time.Time
	refreshAt time.Time
	inflight  *mint
}

type mint struct {
	done  chan struct{}
	token string
	err   error
}

// TokenSource returns a token source for the key.
func (k *Key) TokenSource(opts Options) *TokenSource {
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if len(opts.Scopes) == 0 {
		opts.Scopes = []string{DefaultScope}
	}
	if opts.RefreshBefore <= 0 {
		opts.RefreshBefore = 5 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	conf := &jwt.Config{
		Email:        k.ClientEmail,
		PrivateKey:   k.privateKey,
		PrivateKeyID: k.PrivateKeyID,
		Scopes:       opts.Scopes,
		TokenURL:     k.TokenURI,
	}
	return &TokenSource{key: k, opts: opts, conf: conf}
}

// Token returns a valid access token, minting a new one when the cached
// one is due for refresh. If a refresh fails while the cached token is
// still valid, the cached token is returned.
func (s *TokenSource) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	now := s.opts.Now()
	if s.token != "" && now.Before(s.refreshAt) {
		t := s.token
		s.mu.Unlock()
		return t, nil
	}
	m := s.inflight
	if m == nil {
		m = &mint{done: make(chan struct{})}
		s.inflight = m
		go s.mint(context.WithoutCancel(ctx), m)
	}
	s.mu.Unlock()

	select {
	case <-m.done:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	if m.err == nil {
		return m.token, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && s.opts.Now().Before(s.expiry) {
		return s.token, nil
	}
	return "", m.err
}

// mint fetches a token; it runs detached from any one caller so that a
// caller who leaves does not fail the others waiting on it.
func (s *TokenSource) mint(ctx context.Context, m *mint) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	start, realStart := s.opts.Now(), time.Now()
	client := *s.opts.Client
	base := client.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	client.Transport = ctxTransport{ctx, base}
	tok, err := s.conf.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, &client)).Token()

	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight = nil
	if err != nil {
		m.err = fmt.Errorf("vertex token for %s from %s: %w", s.key.ClientEmail, s.key.TokenURI, err)
	} else if tok.AccessToken == "" {
		m.err = fmt.Errorf("vertex token for %s from %s: empty access token", s.key.ClientEmail, s.key.TokenURI)
	} else {
		// The oauth2 package dates the expiry by the wall clock; carry the
		// lifetime over to the source's clock.
		lifetime := time.Hour
		if !tok.Expiry.IsZero() {
			lifetime = tok.Expiry.Sub(realStart)
		}
		expiry := start.Add(lifetime)
		margin := min(s.opts.RefreshBefore, expiry.Sub(start)/2)
		s.token, s.expiry, s.refreshAt = tok.AccessToken, expiry, expiry.Add(-margin)
		m.token = tok.AccessToken
	}
	close(m.done)
}

// ctxTransport binds the token request to the mint's context, which the
// oauth2 package does not do itself.
type ctxTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t ctxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.base.RoundTrip(r.WithContext(t.ctx))
}
