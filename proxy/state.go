package proxy

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/sluice-gateway/sluice/compat"
	"github.com/sluice-gateway/sluice/compat/gcpauth"
	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/policy"
)

// snapshot is everything derived from one configuration revision. It is
// immutable; a reload builds a new one.
type snapshot struct {
	cfg    *policy.Config
	engine *engine.Engine
	// creds holds the providers whose key is not used as is: Vertex
	// service-account keys ("keyfile::…") minted into access tokens.
	creds map[string]*credential
	// revision is the stored revision cfg is, with --config-source db;
	// 0 for a configuration from a file.
	revision int64
	// upstreams are the providers' base URLs parsed and static credential
	// headers built once per revision, by provider ID.
	upstreams map[string]*providerUpstream
	// header is HeaderConfigRevision's value, computed once.
	headerOnce sync.Once
	header     string
	// serving is when the gateway began serving, carried across reloads:
	// the creation time GET /v1/models gives its models, whose dates at
	// the providers it does not know.
	serving time.Time
}

// credential is a provider key that must be turned into a token.
type credential struct {
	apikey  string
	project string
	tokens  *gcpauth.TokenSource
	err     error // the key could not be read; requests answer 502
}

func newSnapshot(ctx context.Context, cfg *policy.Config, opts Options, prev *snapshot) (*snapshot, error) {
	// A reload builds its engine from the running one: one decision log
	// writer, and the decision cache when the policy is unchanged.
	var eng *engine.Engine
	var err error
	if prev != nil {
		eng, err = prev.engine.Next(ctx, cfg)
	} else {
		eng, err = engine.New(ctx, cfg, opts.EngineOptions...)
	}
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	snap := &snapshot{cfg: cfg, engine: eng, creds: make(map[string]*credential),
		upstreams: make(map[string]*providerUpstream, len(cfg.Providers)), serving: time.Now()}
	if prev != nil {
		snap.serving = prev.serving
	}
	for _, p := range cfg.Providers {
		snap.upstreams[p.ID] = newProviderUpstream(p)
	}
	for _, p := range cfg.Providers {
		if !gcpauth.IsKeyfile(p.APIKey) {
			continue
		}
		// Keep the token cache of an unchanged key across reloads.
		if prev != nil {
			if c := prev.creds[p.ID]; c != nil && c.apikey == p.APIKey {
				snap.creds[p.ID] = c
				continue
			}
		}
		c := &credential{apikey: p.APIKey}
		key, err := gcpauth.ParseKeyfile(p.APIKey)
		if err != nil {
			c.err = err
			opts.Logger.Warn("provider key is not a readable service-account key; its requests will fail", "provider", p.ID, "err", err)
		} else {
			c.project = key.ProjectID
			c.tokens = key.TokenSource(gcpauth.Options{Client: &http.Client{Transport: opts.Transport}})
		}
		snap.creds[p.ID] = c
	}
	return snap, nil
}

// providerUpstream is what forwarding to a provider needs that its
// configuration fixes: its base URL, parsed, and the header carrying a
// static key, built (both were made again for every request).
type providerUpstream struct {
	p    *policy.Provider
	base *compat.BaseURL
	// authName and authValue are the static key's header; authName is
	// empty when the key is not static (a service-account key) or there
	// is none.
	authName  string
	authValue []string
}

func newProviderUpstream(p *policy.Provider) *providerUpstream {
	u := &providerUpstream{p: p, base: compat.ParseBaseURL(p.BaseURL)}
	if p.APIKey != "" && !gcpauth.IsKeyfile(p.APIKey) {
		if name, value, err := compat.AuthHeader(p.Authorization, p.APIKey); err == nil {
			u.authName, u.authValue = name, []string{value}
		}
	}
	return u
}

// upstreamOf returns p's prepared upstream: the snapshot's, or one made
// now for a provider the snapshot does not hold as is.
func (s *snapshot) upstreamOf(p *policy.Provider) *providerUpstream {
	if u := s.upstreams[p.ID]; u != nil && u.p == p {
		return u
	}
	return newProviderUpstream(p)
}

// providerKey returns the credential to send to p and the Google Cloud
// project its key belongs to (for the Vertex path placeholders).
func (s *snapshot) providerKey(ctx context.Context, p *policy.Provider) (key, project string, err error) {
	c := s.creds[p.ID]
	if c == nil {
		return p.APIKey, "", nil
	}
	if c.err != nil {
		return "", "", c.err
	}
	tok, err := c.tokens.Token(ctx)
	return tok, c.project, err
}
