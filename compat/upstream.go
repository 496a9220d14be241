package compat

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Vertex path placeholders a client may send instead of its project and
// region; UpstreamURL replaces them.
const (
	VertexProjectPlaceholder = "_aperture_auto_vertex_project_id_"
	VertexRegionPlaceholder  = "_aperture_auto_vertex_region_"
	// DefaultVertexRegion replaces the region placeholder when the provider
	// names no region: Vertex's global endpoint serves Gemini and Claude.
	DefaultVertexRegion = "global"
)

// Errors of UpstreamURL.
var (
	ErrBaseURL = errors.New("invalid provider base URL")
	// ErrVertexPath is wrapped by every *VertexPathError.
	ErrVertexPath    = errors.New("the Vertex path names another project or region")
	ErrVertexProject = errors.New("no Google Cloud project to send Vertex AI requests to: set the provider's project or use a service-account key")
)

// Vertex names the Google Cloud project and region a Vertex provider serves
// from: the provider's project/region fields, or the project of its
// service-account key. Without a region, the base URL's regional host
// (https://us-east5-aiplatform.googleapis.com) names it, else
// DefaultVertexRegion.
type Vertex struct {
	Project string
	Region  string
}

// VertexPathError reports a Vertex path that names a project or region
// other than the provider's. The gateway calls Vertex with its own
// credential, so the path may not aim it at another project (billing,
// data) or region (data residency). Its message is meant for the client
// and does not reveal the provider's project.
type VertexPathError struct {
	Field string // "project" or "region"
	Value string // as the path names it
}

// Unwrap returns ErrVertexPath.
func (e *VertexPathError) Unwrap() error { return ErrVertexPath }

func (e *VertexPathError) Error() string {
	placeholder := VertexProjectPlaceholder
	if e.Field == "region" {
		placeholder = VertexRegionPlaceholder
	}
	return fmt.Sprintf("the path names the Vertex AI %s %q, which is not the one this gateway's provider serves; "+
		"write %s in the path and the gateway fills in its own", e.Field, e.Value, placeholder)
}

// pinVertex returns r with the provider's project and region in place of
// the path's (or the placeholders), after checking that the path named no
// other. Express-mode paths name neither and pass unchanged.
func pinVertex(r Route, vx Vertex, host string) (Route, error) {
	if r.Project == "" && r.Location == "" {
		return r, nil
	}
	region := vx.Region
	if region == "" {
		if h, ok := strings.CutSuffix(host, "-aiplatform.googleapis.com"); ok && h != VertexRegionPlaceholder && !strings.Contains(h, ".") {
			region = h
		}
	}
	if region == "" {
		region = DefaultVertexRegion
	}
	if vx.Project == "" {
		return r, ErrVertexProject
	}
	if r.Project != VertexProjectPlaceholder && r.Project != vx.Project {
		return r, &VertexPathError{Field: "project", Value: r.Project}
	}
	if r.Location != VertexRegionPlaceholder && r.Location != region {
		return r, &VertexPathError{Field: "region", Value: r.Location}
	}
	r.Project, r.Location = vx.Project, region
	return r, nil
}

// UpstreamURL joins a provider's base URL with the upstream format's path
// for the route and the client's query. A Vertex path always names the
// provider's project and region (a *VertexPathError when the client's
// path names others). Base URLs may carry a path prefix
// and a trailing slash ("https://openrouter.ai/api/"); a base path that
// already ends in the API version the format's path starts with ("/v1") is
// not doubled. The query loses client credentials (key=, access tokens,
// presigned AWS parameters); the base URL's own query parameters win over
// the client's.
func UpstreamURL(baseURL string, r Route, query url.Values, vx Vertex) (*url.URL, error) {
	return ParseBaseURL(baseURL).UpstreamURL(r, query, vx)
}

// BaseURL is a provider's base URL parsed once, for UpstreamURL calls
// that would otherwise parse it again for every request. It is immutable
// and safe for concurrent use.
type BaseURL struct {
	raw string
	u   *url.URL
	err error // set when raw is not a usable base URL
	// base is the escaped path without its trailing slashes; query is
	// the base URL's own query, nil when it has none.
	base  string
	query url.Values
}

// ParseBaseURL parses a provider's base URL. An invalid one is reported
// by every UpstreamURL call, with ErrBaseURL, as UpstreamURL reports it.
func ParseBaseURL(baseURL string) *BaseURL {
	b := &BaseURL{raw: baseURL}
	u, err := url.Parse(baseURL)
	switch {
	case err != nil:
		b.err = fmt.Errorf("%w %q: %w", ErrBaseURL, baseURL, err)
	case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		b.err = fmt.Errorf("%w %q: want http(s)://host[/prefix]", ErrBaseURL, baseURL)
	default:
		b.u = u
		b.base = strings.TrimRight(u.EscapedPath(), "/")
		if u.RawQuery != "" {
			b.query = u.Query()
		}
	}
	return b
}

// String returns the base URL as configured.
func (b *BaseURL) String() string { return b.raw }

// UpstreamURL is the package's UpstreamURL for this base URL.
func (b *BaseURL) UpstreamURL(r Route, query url.Values, vx Vertex) (*url.URL, error) {
	s, err := lookup(r.UpstreamFormat)
	if err != nil {
		return nil, err
	}
	if r.UpstreamFormat != r.Format && r.translated == nil {
		return nil, fmt.Errorf("%w: %s to %s", ErrNoTranslation, r.Format, r.UpstreamFormat)
	}
	if b.err != nil {
		return nil, b.err
	}
	u := b.u
	if r.UpstreamFormat == GoogleGenerateContent || r.UpstreamFormat == GoogleRawPredict {
		if r, err = pinVertex(r, vx, u.Hostname()); err != nil {
			return nil, err
		}
	}
	base := b.base
	pathOf := s.upstreamPath
	if r.translated != nil {
		pathOf, query = translatedPath, translatedQuery(r)
	}
	up := dedupeVersion(base, pathOf(r))
	joined := base + up

	host := u.Host
	if strings.Contains(joined, VertexProjectPlaceholder) {
		if vx.Project == "" {
			return nil, ErrVertexProject
		}
		joined = strings.ReplaceAll(joined, VertexProjectPlaceholder, url.PathEscape(vx.Project))
	}
	if strings.Contains(joined, VertexRegionPlaceholder) || strings.Contains(host, VertexRegionPlaceholder) {
		region := vx.Region
		if region == "" {
			region = DefaultVertexRegion
		}
		joined = strings.ReplaceAll(joined, VertexRegionPlaceholder, url.PathEscape(region))
		host = strings.ReplaceAll(host, VertexRegionPlaceholder, region)
	}

	path, err := url.PathUnescape(joined)
	if err != nil {
		return nil, fmt.Errorf("upstream path %q: %w", joined, err)
	}
	var rawQuery string
	if len(query) > 0 || b.query != nil { // else no map to build
		q := url.Values{}
		for k, vs := range query {
			if !IsCredentialParam(k) {
				q[k] = append([]string(nil), vs...)
			}
		}
		for k, vs := range b.query {
			q[k] = vs // shared: Encode only reads it
		}
		rawQuery = q.Encode()
	}
	out := &url.URL{
		Scheme:   u.Scheme,
		User:     u.User,
		Host:     host,
		Path:     path,
		RawPath:  joined,
		RawQuery: rawQuery,
	}
	return out, nil
}

// dedupeVersion drops the leading version segment of up when base already
// ends in it ("https://host/v1" + "/v1/chat/completions").
func dedupeVersion(base, up string) string {
	first, _, _ := strings.Cut(strings.TrimPrefix(up, "/"), "/")
	if !isVersion(first) {
		return up
	}
	if strings.HasSuffix(base, "/"+first) {
		return up[len(first)+1:]
	}
	return up
}

// isVersion reports whether seg looks like an API version: v1, v1beta,
// v1beta1, v2alpha.
func isVersion(seg string) bool {
	if len(seg) < 2 || seg[0] != 'v' || seg[1] < '0' || seg[1] > '9' {
		return false
	}
	rest := strings.TrimLeft(seg[1:], "0123456789")
	rest = strings.TrimPrefix(strings.TrimPrefix(rest, "alpha"), "beta")
	return strings.TrimLeft(rest, "0123456789") == ""
}
