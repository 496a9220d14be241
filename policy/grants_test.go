package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-gateway/sluice/quota"
)

const grantsProviders = `"providers": {"anthropic": {"baseurl": "https://a.example", "apikey": "k", "models": ["claude"]}},
"hooks": {"guard": {"url": "https://guard.example"}, "audit": {"url": "https://audit.example"}},
`

func parseGrants(t *testing.T, grants string) (*Config, error) {
	t.Helper()
	return Parse("g.hujson", []byte("{\n"+grantsProviders+`"grants": `+grants+"\n}"), noEnv)
}

// TestGrantsDecode decodes every capability key into the model.
func TestGrantsDecode(t *testing.T) {
	c, err := parseGrants(t, `[
	{"src": ["alice@example.com", "*@example.org", "tag:ci", "group:eng", "*"],
	 "app": {
		"tailscale.com/cap/aperture": [
			{"role": "user"},
			{"models": "anthropic/**", "send_hooks": [{"name": "guard", "events": ["pre_request"], "send": ["request_body", "grants"]}]},
			{"models": ["openai/gpt-4*", "*/claude-*"], "add_headers": ["X-Project: blue", "X-Team:red"]},
			{"read_metrics": true, "enable_chat_ui": false},
			{"connectors": ["github/**"], "mcp_tools": "fs/read_*", "mcp_resources": ["fs/*"], "mcp_templates": ["t/*"]},
			{"set_cors": true, "cors_paths": ["/v1/*"], "Access-Control-Allow-Origin": "https://app.example",
			 "Access-Control-Allow-Methods": "POST", "Access-Control-Allow-Headers": "Content-Type"},
			{"send_hooks": [{"name": "audit"}]},
		],
		"example.com/cap/policy": [{"tier": "gold"}, "plain"],
	 }},
	]`)
	if err != nil {
		t.Fatal(err)
	}
	if c.GrantsDefaulted || len(c.TempGrants) != 0 {
		t.Errorf("a grants section must replace the default temp_grants (defaulted=%v, %d sets)", c.GrantsDefaulted, len(c.TempGrants))
	}
	if len(c.Grants) != 1 {
		t.Fatalf("grants = %d, want 1", len(c.Grants))
	}
	g := c.Grants[0]
	no := false
	want := []*Capability{
		{Index: 0, Role: RoleUser},
		{Index: 1, Models: []string{"anthropic/**"}, SendHooks: []SendHook{{Name: "guard", Events: []string{EventPreRequest}, Send: []string{FieldRequestBody, FieldGrants}}}},
		{Index: 2, Models: []string{"openai/gpt-4*", "*/claude-*"}, AddHeaders: []Header{{"X-Project", "blue"}, {"X-Team", "red"}}},
		{Index: 3, ReadMetrics: true, EnableChatUI: &no},
		{Index: 4, Connectors: []string{"github/**"}, MCPTools: []string{"fs/read_*"}, MCPResources: []string{"fs/*"}, MCPTemplates: []string{"t/*"}},
		{Index: 5, CORS: &CORS{Set: true, Paths: []string{"/v1/*"}, AllowOrigin: "https://app.example", AllowMethods: "POST", AllowHeaders: "Content-Type"}},
		{Index: 6, SendHooks: []SendHook{{Name: "audit", Events: []string{EventToolCallEntireRequest}}}},
	}
	ignorePos := cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Pos" }, cmp.Ignore())
	if diff := cmp.Diff(want, g.Caps, ignorePos); diff != "" {
		t.Errorf("capabilities (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"alice@example.com", "*@example.org", "tag:ci", "group:eng", "*"}, g.Src); diff != "" {
		t.Errorf("src (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]CustomCap{{Name: "example.com/cap/policy", Values: []string{`{"tier":"gold"}`, `"plain"`}}}, g.Custom); diff != "" {
		t.Errorf("custom caps (-want +got):\n%s", diff)
	}
	if got := g.Caps[1].Source(); got != `grants[0].app.tailscale.com/cap/aperture[1]` {
		t.Errorf("Source = %s", got)
	}
}

// TestGrantsBothSections keeps temp_grants beside grants.
func TestGrantsBothSections(t *testing.T) {
	c, err := Parse("g.hujson", []byte(`{`+grantsProviders+`
		"temp_grants": [{"src": ["*"], "grants": [{"role": "user"}]}],
		"grants": [{"src": ["*"], "app": {"tailscale.com/cap/aperture": [{"models": "**"}]}}],
	}`), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.TempGrants) != 1 || len(c.Grants) != 1 || c.GrantsDefaulted {
		t.Errorf("temp_grants %d, grants %d, defaulted %v", len(c.TempGrants), len(c.Grants), c.GrantsDefaulted)
	}
}

// TestGrantsErrors refuses what sluice cannot apply, each error at its place.
func TestGrantsErrors(t *testing.T) {
	tests := []struct {
		name    string
		grants  string // on the line after "grants": (line 4 of the file)
		code    string
		wantErr string
		line    int
		col     int
	}{
		{name: "dst", grants: `[{"src": ["*"], "dst": ["tag:aperture"], "app": {}}]`, code: CodeBadGrant, wantErr: `grants[0]: a config grant has no "dst"`, line: 4, col: 34},
		{name: "unknown capability", grants: `[{"src": ["*"], "app": {"tailscale.com/cap/aperture": [{"role": "user", "max_tokens": 5}]}}]`,
			code: CodeUnknownCapability, wantErr: `grants[0].app.tailscale.com/cap/aperture[0]: unknown capability "max_tokens"`, line: 4, col: 83},
		{name: "undefined quota bucket", grants: `[{"src": ["*"], "app": {"tailscale.com/cap/aperture": [{"models": "**", "quotas": [{"bucket": "daily"}]}]}}]`,
			code: CodeUndefinedQuota, wantErr: `grants[0].app.tailscale.com/cap/aperture[0]: grant charges undefined quota bucket "daily"`, line: 4, col: 105},
		{name: "quota entry without bucket", grants: `[{"src": ["*"], "app": {"tailscale.com/cap/aperture": [{"models": "**", "quotas": [{"name": "daily"}]}]}}]`,
			code: CodeBadGrant, wantErr: `quotas entry names no bucket`, line: 4, col: 94},
		{name: "unknown hook", grants: `[{"src": ["*"], "app": {"tailscale.com/cap/aperture": [{"send_hooks": [{"name": "nope", "events": ["pre_request"]}]}]}}]`,
			code: CodeUndefinedHook, wantErr: `undefined hook "nope"`, line: 4, col: 91},
		{name: "hook without name", grants: `[{"src": ["*"], "app": {"tailscale.com/cap/aperture": [{"send_hooks": [{"events": ["pre_request"]}]}]}}]`,
			code: CodeBadGrant, wantErr: "send_hooks entry names no hook", line: 4, col: 82},
		{name: "unknown event", grants: `[{"src": ["*"], "app": {"tailscale.com/cap/aperture": [{"send_hooks": [{"name": "guard", "events": ["later"]}]}]}}]`,
			code: CodeBadEvent, wantErr: `unknown hook event "later"`, line: 4, col: 111},
		{name: "unsupported send", grants: `[{"src": ["*"], "app": {"tailscale.com/cap/aperture": [{"send_hooks": [{"name": "guard", "send": ["secrets"]}]}]}}]`,
			code: CodeBadField, wantErr: `hook field "secrets"`, line: 4, col: 109},
		{name: "bad role", grants: `[{"src": ["*"], "app": {"tailscale.com/cap/aperture": [{"role": "root"}]}}]`,
			code: CodeBadRole, wantErr: `unknown role "root"`, line: 4, col: 75},
		{name: "authorization header", grants: `[{"src": ["*"], "app": {"tailscale.com/cap/aperture": [{"add_headers": ["Authorization: Bearer x"]}]}}]`,
			code: CodeBadHeader, wantErr: `header "Authorization" may not be set`, line: 4, col: 83},
		{name: "hop-by-hop header", grants: `[{"src": ["*"], "app": {"tailscale.com/cap/aperture": [{"add_headers": ["Connection: close"]}]}}]`,
			code: CodeBadHeader, wantErr: `header "Connection" may not be set`, line: 4, col: 83},
		{name: "bad header name", grants: `[{"src": ["*"], "app": {"tailscale.com/cap/aperture": [{"add_headers": ["X Project: a"]}]}}]`,
			code: CodeBadHeader, wantErr: `not a valid HTTP header name`, line: 4, col: 83},
		{name: "header without colon", grants: `[{"src": ["*"], "app": {"tailscale.com/cap/aperture": [{"add_headers": ["X-Project"]}]}}]`,
			code: CodeBadHeader, wantErr: `is not "Name: value"`, line: 4, col: 83},
		{name: "model without provider", grants: `[{"src": ["*"], "app": {"tailscale.com/cap/aperture": [{"models": "gpt-5"}]}}]`,
			code: CodeBadGrant, wantErr: `has no provider part`, line: 4, col: 77},
		{name: "models not a string", grants: `[{"src": ["*"], "app": {"tailscale.com/cap/aperture": [{"models": 5}]}}]`,
			code: CodeType, wantErr: `want string or array of strings`, line: 4, col: 77},
		{name: "capability not an object", grants: `[{"src": ["*"], "app": {"tailscale.com/cap/aperture": ["admin"]}}]`,
			code: CodeType, wantErr: `want object`, line: 4, col: 66},
		{name: "glob source", grants: `[{"src": ["a*@example.com"], "app": {}}]`, code: CodeBadSource, wantErr: `invalid source "a*@example.com"`, line: 4, col: 21},
		{name: "unknown grant field", grants: `[{"src": ["*"], "srcPosture": ["posture:ok"], "app": {}}]`, code: CodeUnknownField, wantErr: `grants[0]: unknown field "srcPosture"`, line: 4, col: 41},
		{name: "empty tag", grants: `[{"src": ["tag:"], "app": {}}]`, code: CodeBadSource, wantErr: `invalid source "tag:"`, line: 4, col: 21},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseGrants(t, tt.grants)
			errs, ok := err.(Errors)
			if !ok {
				t.Fatalf("err = %v, want Errors", err)
			}
			if !errs.Has(tt.code) {
				t.Fatalf("errors %v lack code %s", errs, tt.code)
			}
			for _, d := range errs {
				if d.Code != tt.code {
					continue
				}
				if !strings.Contains(d.Message, tt.wantErr) {
					t.Errorf("message %q lacks %q", d.Message, tt.wantErr)
				}
				if d.Pos.Line != tt.line || d.Pos.Col != tt.col {
					t.Errorf("at %d:%d, want %d:%d (%s)", d.Pos.Line, d.Pos.Col, tt.line, tt.col, d)
				}
			}
		})
	}
}

func TestParseHeader(t *testing.T) {
	tests := []struct {
		in      string
		want    Header
		wantBad bool
	}{
		{in: "X-Project: blue", want: Header{"X-Project", "blue"}},
		{in: "X-Empty:", want: Header{"X-Empty", ""}},
		{in: "x-api-key: k", wantBad: true},
		{in: "Proxy-Authorization: x", wantBad: true},
		{in: "Transfer-Encoding: chunked", wantBad: true},
		{in: "Host: evil.example", wantBad: true},
		{in: ": v", wantBad: true},
		{in: "X-Bad: a\nb", wantBad: true},
	}
	for _, tt := range tests {
		h, bad := ParseHeader(tt.in)
		if (bad != "") != tt.wantBad || (!tt.wantBad && h != tt.want) {
			t.Errorf("ParseHeader(%q) = %v, %q", tt.in, h, bad)
		}
	}
}

// FuzzParseHeader: a header ParseHeader accepts is never a credential or
// hop-by-hop header and carries no control character.
func FuzzParseHeader(f *testing.F) {
	for _, s := range []string{"X-Project: blue", "Authorization: x", "a:b", ":", "X:\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, bad := ParseHeader(s)
		if bad != "" {
			return
		}
		if !validHeaderName(h.Name) || strings.ContainsAny(h.Value, "\r\n\x00") {
			t.Fatalf("accepted %q as %+v", s, h)
		}
		for _, f := range forbiddenHeaders {
			if strings.EqualFold(f, h.Name) {
				t.Fatalf("accepted forbidden header %q", h.Name)
			}
		}
	})
}

// TestGrantsTeamBudgets: the documented team budget example loads, each
// team's capability charging both its team bucket and the per-user one.
func TestGrantsTeamBudgets(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "testdata", "configs", "grants-team-budgets.hujson"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse("grants-team-budgets.hujson", data, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"team-eng", "daily:<user>"}, c.Grants[1].Caps[0].Quotas); diff != "" {
		t.Errorf("quotas (-want +got):\n%s", diff)
	}
	q := c.Quota("team-eng")
	if q == nil || q.Capacity != 500*quota.Dollar || q.Rate != (quota.Rate{Amount: 500 * quota.Dollar, Per: 30 * 24 * time.Hour}) || q.OnExceed != "reject" {
		t.Errorf("team-eng = %+v", q)
	}
}
