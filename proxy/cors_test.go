package proxy

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

// corsGatewayConfig: everyone at example.com may use gpt-5; alice has two
// CORS capabilities that both cover chat completions, the second for two
// origins; dave may call from any origin but has no role and no model.
const corsGatewayConfig = `{
	"providers": {
		"openai": {"baseurl": "UPSTREAM", "apikey": "sk-provider-openai", "models": ["gpt-5", "gpt-5-mini"]},
	},
	"grants": [
		{"src": ["*@example.com"], "app": {"tailscale.com/cap/aperture": [
			{"role": "user"},
			{"models": "openai/gpt-5"},
		]}},
		{"src": ["alice@example.com"], "app": {"tailscale.com/cap/aperture": [
			{"set_cors": true, "cors_paths": ["/v1/chat/*"], "Access-Control-Allow-Origin": "https://app.example",
			 "Access-Control-Allow-Methods": "POST, OPTIONS", "Access-Control-Allow-Headers": "Content-Type, Authorization"},
		]}},
		{"src": ["alice@example.com"], "app": {"tailscale.com/cap/aperture": [
			{"set_cors": true, "cors_paths": ["/v1/**"], "Access-Control-Allow-Origin": "https://app.example, https://tools.example",
			 "Access-Control-Allow-Methods": "GET, post", "Access-Control-Allow-Headers": "X-Session-Id, content-type"},
		]}},
		{"src": ["dave@else.org"], "app": {"tailscale.com/cap/aperture": [
			{"set_cors": true, "cors_paths": ["/**"], "Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "POST"},
		]}},
	],
}`

func newCORSGateway(t *testing.T, login string, mutate ...func(*Options)) *gateway {
	t.Helper()
	gw := newGateway(t, corsGatewayConfig, login, mutate...)
	gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON),
		// An upstream's own CORS policy must never reach the browser.
		Header: http.Header{"Access-Control-Allow-Origin": {"*"}, "Access-Control-Allow-Credentials": {"true"}}})
	return gw
}

// preflight sends a CORS preflight as a browser does.
func preflight(t *testing.T, url, origin, method string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodOptions, url, nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", method)
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// corsHeaders are the CORS headers of a response, "" when absent.
type corsHeaders struct{ origin, methods, headers, credentials, vary string }

func corsOf(h http.Header) corsHeaders {
	return corsHeaders{h.Get("Access-Control-Allow-Origin"), h.Get("Access-Control-Allow-Methods"),
		h.Get("Access-Control-Allow-Headers"), h.Get("Access-Control-Allow-Credentials"), strings.Join(h.Values("Vary"), ", ")}
}

// TestCORSPreflight: a preflight is answered by the gateway itself, with
// the union of the headers of the grants that cover the path and allow the
// origin; without such a grant it gets 403 and no CORS header. No
// preflight reaches the upstream or the request log.
func TestCORSPreflight(t *testing.T) {
	tests := []struct {
		name, login, path, origin string
		wantStatus                int
		want                      corsHeaders
		wantBody                  string
	}{
		{"two grants add up", "alice@example.com", "/v1/chat/completions", "https://app.example", 204,
			corsHeaders{"https://app.example", "POST, OPTIONS, GET", "Content-Type, Authorization, X-Session-Id", "", "Origin"}, ""},
		{"second origin gets only its grant", "alice@example.com", "/v1/chat/completions", "https://tools.example", 204,
			corsHeaders{"https://tools.example", "GET, post", "X-Session-Id, content-type", "", "Origin"}, ""},
		{"path only the wide grant covers", "alice@example.com", "/v1/responses", "https://app.example", 204,
			corsHeaders{"https://app.example", "GET, post", "X-Session-Id, content-type", "", "Origin"}, ""},
		{"wildcard origin", "dave@else.org", "/v1/messages", "https://any.example", 204,
			corsHeaders{"*", "POST", "", "", "Origin"}, ""},
		{"origin not granted", "alice@example.com", "/v1/chat/completions", "https://evil.example", 403,
			corsHeaders{vary: "Origin"}, `may not call /v1/chat/completions from origin \"https://evil.example\"`},
		{"path outside cors_paths", "alice@example.com", "/v1beta/models/gemini-2.5-pro:generateContent", "https://app.example", 403,
			corsHeaders{vary: "Origin"}, `no grant gives them set_cors`},
		{"no CORS grant", "bob@example.com", "/v1/chat/completions", "https://app.example", 403,
			corsHeaders{vary: "Origin"}, `"type":"permission_error"`},
		{"unknown caller", "", "/v1/chat/completions", "https://app.example", 403,
			corsHeaders{vary: "Origin"}, `could not identify the caller`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := newCORSGateway(t, tt.login, func(o *Options) {
				if tt.login == "" {
					o.Identity = identity.ResolverFunc(func(*http.Request) (identity.Identity, error) {
						return identity.Identity{}, identity.ErrUnknownCaller
					})
				}
			})
			resp, body := preflight(t, gw.URL+tt.path, tt.origin, "POST")
			if resp.StatusCode != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("status %d body %s, want %d with %s", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
			if got := corsOf(resp.Header); got != tt.want {
				t.Errorf("CORS headers %+v, want %+v", got, tt.want)
			}
			if tt.wantStatus == 204 && body != "" {
				t.Errorf("204 with body %q", body)
			}
			if n := len(gw.upstream.Received()); n != 0 {
				t.Errorf("upstream received %d requests", n)
			}
			if recs := gw.sink.all(); len(recs) != 0 {
				t.Errorf("preflight left %d request-log rows", len(recs))
			}
		})
	}
}

// TestCORSPreflightFromTailnetCaps: set_cors from the tailnet policy file
// (WhoIs capabilities) counts like the config's.
func TestCORSPreflightFromTailnetCaps(t *testing.T) {
	caps := []json.RawMessage{json.RawMessage(`{"set_cors": true, "cors_paths": "/v1/*/completions", "Access-Control-Allow-Origin": "https://app.example"}`)}
	gw := newCORSGateway(t, "carol@example.com", func(o *Options) {
		o.Identity = identity.ResolverFunc(func(*http.Request) (identity.Identity, error) {
			return identity.Identity{Login: "carol@example.com", Caps: caps}, nil
		})
	})
	resp, body := preflight(t, gw.URL+"/v1/chat/completions", "https://app.example", "POST")
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Fatalf("status %d, Allow-Origin %q: %s", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), body)
	}
}

// TestCORSActualRequest: the request after the preflight is decided by
// policy as always, and its answer carries the grant's headers in place of
// the upstream's; without CORS grant, or without Origin, it has none.
func TestCORSActualRequest(t *testing.T) {
	tests := []struct {
		name, login, origin string
		wantStatus          int
		want                corsHeaders
	}{
		{"granted origin", "alice@example.com", "https://app.example", 200,
			corsHeaders{"https://app.example", "POST, OPTIONS, GET", "Content-Type, Authorization, X-Session-Id", "", "Origin"}},
		{"other origin", "alice@example.com", "https://evil.example", 200, corsHeaders{vary: "Origin"}},
		{"no Origin", "alice@example.com", "", 200, corsHeaders{}},
		{"no CORS grant", "bob@example.com", "https://app.example", 200, corsHeaders{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := newCORSGateway(t, tt.login)
			h := map[string]string{}
			if tt.origin != "" {
				h["Origin"] = tt.origin
			}
			resp, body := post(t, gw.URL+"/v1/chat/completions", h, `{"model":"gpt-5","messages":[]}`)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(body, `"content":"hello"`) {
				t.Fatalf("status %d body %s", resp.StatusCode, body)
			}
			if got := corsOf(resp.Header); got != tt.want {
				t.Errorf("CORS headers %+v, want %+v", got, tt.want)
			}
			if n := len(gw.upstream.Received()); n != 1 {
				t.Errorf("upstream received %d requests, want 1", n)
			}
		})
	}
}

// TestCORSNeverGrantsModels: a caller whose grants allow CORS from any
// origin but give no model is allowed the preflight and refused the
// request, which never reaches the upstream; the refusal is readable by
// the page.
func TestCORSNeverGrantsModels(t *testing.T) {
	tests := []struct {
		name, login, model string
		wantStatus         int
	}{
		{"no role", "dave@else.org", "gpt-5", 403},
		{"role without the model", "alice@example.com", "gpt-5-mini", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := newCORSGateway(t, tt.login)
			if resp, body := preflight(t, gw.URL+"/v1/chat/completions", "https://app.example", "POST"); resp.StatusCode != 204 {
				t.Fatalf("preflight status %d: %s", resp.StatusCode, body)
			}
			resp, body := post(t, gw.URL+"/v1/chat/completions", map[string]string{"Origin": "https://app.example"}, `{"model":"`+tt.model+`","messages":[]}`)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(body, "is not allowed to use model") {
				t.Fatalf("status %d body %s, want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") == "" {
				t.Errorf("refusal without Access-Control-Allow-Origin: the page cannot read why")
			}
			if n := len(gw.upstream.Received()); n != 0 {
				t.Errorf("upstream received %d requests", n)
			}
		})
	}
}

// TestCORSEarlyFailure: an error sluice answers before policy decides on
// a model (here an unknown model) carries the caller's CORS headers too,
// and only theirs.
func TestCORSEarlyFailure(t *testing.T) {
	tests := []struct {
		login, wantOrigin string
	}{
		{"alice@example.com", "https://app.example"},
		{"bob@example.com", ""},
	}
	for _, tt := range tests {
		t.Run(tt.login, func(t *testing.T) {
			gw := newCORSGateway(t, tt.login)
			resp, body := post(t, gw.URL+"/v1/chat/completions", map[string]string{"Origin": "https://app.example"}, `{"model":"nope","messages":[]}`)
			if resp.StatusCode != 404 || !strings.Contains(body, `model \"nope\" is not configured`) {
				t.Fatalf("status %d body %s", resp.StatusCode, body)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tt.wantOrigin {
				t.Errorf("Allow-Origin %q, want %q", got, tt.wantOrigin)
			}
		})
	}
}

// TestCORSModelsList: GET /v1/models, which decides per model without
// going upstream, carries the headers too.
func TestCORSModelsList(t *testing.T) {
	gw := newCORSGateway(t, "alice@example.com")
	req, _ := http.NewRequest(http.MethodGet, gw.URL+"/v1/models", nil)
	req.Header.Set("Origin", "https://tools.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://tools.example" {
		t.Errorf("status %d, Allow-Origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
}

// TestCORSFor covers how grants combine, and what of a grant's values is
// refused, without a gateway.
func TestCORSFor(t *testing.T) {
	g := func(path, origin, methods, headers string) engine.CORSGrant {
		return engine.CORSGrant{Paths: []string{path}, Origin: origin, Methods: methods, Headers: headers}
	}
	tests := []struct {
		name   string
		grants []engine.CORSGrant
		origin string
		want   corsAnswer
	}{
		{"none", nil, "https://a.example", corsAnswer{}},
		{"exact beats wildcard", []engine.CORSGrant{g("/**", "*", "GET", ""), g("/**", "https://a.example", "POST", "")}, "https://a.example",
			corsAnswer{covered: true, origin: "https://a.example", methods: "GET, POST"}},
		{"case and trailing slash", []engine.CORSGrant{g("/**", "HTTPS://A.example/", "", "")}, "https://a.example",
			corsAnswer{covered: true, origin: "https://a.example"}},
		{"empty origin value allows none", []engine.CORSGrant{g("/**", "", "GET", "")}, "https://a.example", corsAnswer{covered: true}},
		{"other origin's methods stay apart", []engine.CORSGrant{g("/**", "https://a.example", "GET", "X-A"), g("/**", "https://b.example", "DELETE", "X-B")}, "https://b.example",
			corsAnswer{covered: true, origin: "https://b.example", methods: "DELETE", headers: "X-B"}},
		{"line break dropped", []engine.CORSGrant{g("/**", "*", "GET\r\nSet-Cookie: x=1, PUT", "X-Ok, Bad Header")}, "https://a.example",
			corsAnswer{covered: true, origin: "*", methods: "PUT", headers: "X-Ok"}},
		{"control character in Origin", []engine.CORSGrant{g("/**", "https://a.example", "", "")}, "https://a.example\n", corsAnswer{covered: true}},
		{"path not covered", []engine.CORSGrant{g("/v2/**", "*", "GET", "")}, "https://a.example", corsAnswer{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := corsFor(tt.grants, "/v1/chat/completions", tt.origin); got != tt.want {
				t.Errorf("corsFor = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestMatchPath(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          bool
	}{
		{"/v1/chat/completions", "/v1/chat/completions", true},
		{"/v1/chat/completions", "/v1/chat/completions/", false},
		{"/v1/*", "/v1/models", true},
		{"/v1/*", "/v1/chat/completions", false},
		{"/v1/*/completions", "/v1/chat/completions", true},
		{"/v1/chat*", "/v1/chat", true},
		{"/v1/models/gpt-*", "/v1/models/gpt-5", true},
		{"/v1/models/gpt-*", "/v1/models/claude", false},
		{"/v1/**", "/v1", true},
		{"/v1/**", "/v1/chat/completions", true},
		{"/v1/**", "/v1beta/models", false},
		{"/**", "/", true},
		{"/**", "/model/anthropic.claude/invoke", true},
		{"/**/invoke", "/model/x/invoke", true},
		{"/**/invoke", "/model/x/converse", false},
		{"/v1/**/models", "/v1/models", true},
		{"/v1/a**b", "/v1/a/b", false},
		{"/v1/a**b", "/v1/axxb", true},
		{"**", "/v1/models", true},
		{"", "/v1", false},
	}
	for _, tt := range tests {
		if got := matchPath(tt.pattern, tt.path); got != tt.want {
			t.Errorf("matchPath(%q, %q) = %v, want %v", tt.pattern, tt.path, got, tt.want)
		}
	}
}

// matchPathSlow is matchPath written the obvious, exponential way, to hold
// the fast one against on short inputs.
func matchPathSlow(pattern, path string) bool {
	var segs func(p, s []string) bool
	segs = func(p, s []string) bool {
		if len(p) == 0 {
			return len(s) == 0
		}
		if p[0] == "**" {
			for i := 0; i <= len(s); i++ {
				if segs(p[1:], s[i:]) {
					return true
				}
			}
			return false
		}
		return len(s) > 0 && matchSegmentSlow(p[0], s[0]) && segs(p[1:], s[1:])
	}
	return segs(strings.Split(pattern, "/"), strings.Split(path, "/"))
}

func matchSegmentSlow(p, s string) bool {
	if p == "" {
		return s == ""
	}
	if p[0] == '*' {
		for i := 0; i <= len(s); i++ {
			if matchSegmentSlow(p[1:], s[i:]) {
				return true
			}
		}
		return false
	}
	return s != "" && p[0] == s[0] && matchSegmentSlow(p[1:], s[1:])
}

// FuzzCORS holds the path matcher against the obvious one, and checks that
// whatever a grant and a request carry, the answer allows only the
// request's own origin or "*", and its headers hold nothing but tokens.
func FuzzCORS(f *testing.F) {
	f.Add("/v1/**", "/v1/chat/completions", "https://a.example", "https://a.example https://b.example", "GET, POST", "Content-Type")
	f.Add("/v1/*/completions", "/v1/chat/completions", "null", "*", "*", "*")
	f.Add("/**/x*y*/**", "/a/xay/b/xy", "https://a.example\r\n", "https://a.example", "GET\nX", "A B")
	f.Fuzz(func(t *testing.T, pattern, path, origin, allowOrigin, methods, headers string) {
		if len(pattern) <= 24 && len(path) <= 24 {
			if got, want := matchPath(pattern, path), matchPathSlow(pattern, path); got != want {
				t.Fatalf("matchPath(%q, %q) = %v, want %v", pattern, path, got, want)
			}
		}
		a := corsFor([]engine.CORSGrant{{Paths: []string{pattern}, Origin: allowOrigin, Methods: methods, Headers: headers}}, path, origin)
		if a.origin != "" && a.origin != "*" && a.origin != origin {
			t.Fatalf("answered origin %q to %q", a.origin, origin)
		}
		if a.origin != "" && !printable(a.origin) {
			t.Fatalf("origin %q is not printable", a.origin)
		}
		for _, list := range []string{a.methods, a.headers} {
			for _, tok := range strings.Split(list, ", ") {
				if list != "" && !httpguts.ValidHeaderFieldName(tok) {
					t.Fatalf("list %q holds %q", list, tok)
				}
			}
		}
	})
}
