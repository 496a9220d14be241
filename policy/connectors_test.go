package policy

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestConnectors(t *testing.T) {
	env := func(name string) (string, bool) {
		v, ok := map[string]string{"GH_TOKEN": "ghp-secret", "CC_SECRET": "cc-secret"}[name]
		return v, ok
	}
	tests := []struct {
		name    string
		servers string
		want    []*Connector // compared without Pos
		wantErr string
		warn    string
	}{
		{name: "every auth type", servers: `
"docs":   {"protocol": "mcp", "url": "https://docs.example/mcp", "auth": {"type": "bearer_token", "token": "${GH_TOKEN}"}, "labels": ["public"]},
"github": {"protocol": "http", "url": "https://api.github.example", "tailnet": true, "auth": {"type": "api_key", "key": "k1"}},
"jira":   {"protocol": "http", "url": "https://jira.example", "auth": {"type": "basic", "username": "u", "password": "p"}},
"crm":    {"protocol": "mcp", "url": "https://crm.example/mcp", "provider": "Salesforce",
           "auth": {"type": "oauth2_client_credentials", "client_id": "id", "client_secret": "${CC_SECRET}", "token_url": "https://auth.example/token", "scopes": ["read"]}},
"open":   {"protocol": "mcp", "url": "http://127.0.0.1:9/mcp"}`,
			want: []*Connector{
				{ID: "docs", Protocol: "mcp", URL: "https://docs.example/mcp", Provider: "Custom", Labels: []string{"public"}, Auth: ConnectorAuth{Type: "bearer_token", Token: "ghp-secret"}},
				{ID: "github", Protocol: "http", URL: "https://api.github.example", Provider: "Custom", Tailnet: true, Auth: ConnectorAuth{Type: "api_key", Key: "k1", Header: "X-API-Key"}},
				{ID: "jira", Protocol: "http", URL: "https://jira.example", Provider: "Custom", Auth: ConnectorAuth{Type: "basic", Username: "u", Password: "p"}},
				{ID: "crm", Protocol: "mcp", URL: "https://crm.example/mcp", Provider: "Salesforce", Auth: ConnectorAuth{Type: "oauth2_client_credentials",
					ClientID: "id", ClientSecret: "cc-secret", TokenURL: "https://auth.example/token", Scopes: []string{"read"}}},
				{ID: "open", Protocol: "mcp", URL: "http://127.0.0.1:9/mcp", Provider: "Custom"},
			}},
		{name: "id with underscore", servers: `"my_docs": {"protocol": "mcp", "url": "https://d.example"}`,
			wantErr: `t.hujson:3:28: connector ID "my_docs" is invalid`},
		{name: "id with dash", servers: `"my-docs": {"protocol": "mcp", "url": "https://d.example"}`,
			wantErr: `connector ID "my-docs" is invalid`},
		{name: "id starting with a digit", servers: `"1docs": {"protocol": "mcp", "url": "https://d.example"}`,
			wantErr: `connector ID "1docs" is invalid`},
		{name: "reserved id", servers: `"aperture": {"protocol": "mcp", "url": "https://d.example"}`,
			wantErr: `connector ID "aperture" is reserved (reserved: aperture, tailscale, internal)`},
		{name: "reserved id in capitals", servers: `"Tailscale": {"protocol": "mcp", "url": "https://d.example"}`,
			wantErr: `connector ID "Tailscale" is reserved`},
		{name: "no protocol", servers: `"docs": {"url": "https://d.example"}`,
			wantErr: `connector docs has no protocol (want "mcp" or "http")`},
		{name: "unknown protocol", servers: `"docs": {"protocol": "grpc", "url": "https://d.example"}`,
			wantErr: `connector docs has unknown protocol "grpc"`},
		{name: "bad url", servers: `"docs": {"protocol": "mcp", "url": "ftp://d.example"}`,
			wantErr: `connector docs has invalid url`},
		{name: "missing url warns", servers: `"docs": {"protocol": "mcp"}`,
			warn: `connector docs has no url; its requests will fail`},
		{name: "bearer without token", servers: `"docs": {"protocol": "mcp", "url": "https://d.example", "auth": {"type": "bearer_token"}}`,
			wantErr: `connector docs: auth type bearer_token needs "token"`},
		{name: "client credentials without token url", servers: `"docs": {"protocol": "mcp", "url": "https://d.example", "auth": {"type": "oauth2_client_credentials", "client_id": "a", "client_secret": "b"}}`,
			wantErr: `needs "token_url"`},
		{name: "per-user oauth refused", servers: `"docs": {"protocol": "mcp", "url": "https://d.example", "auth": {"type": "oauth2_authorization_code"}}`,
			wantErr: `(per-user OAuth) is not supported`},
		{name: "unknown auth type", servers: `"docs": {"protocol": "mcp", "url": "https://d.example", "auth": {"type": "magic"}}`,
			wantErr: `connector docs has unknown auth type "magic"`},
		{name: "reserved label", servers: `"docs": {"protocol": "mcp", "url": "https://d.example", "labels": ["system"]}`,
			wantErr: `label "system" is reserved`},
		{name: "unset macro", servers: `"docs": {"protocol": "mcp", "url": "https://d.example", "auth": {"type": "bearer_token", "token": "${NOPE}"}}`,
			wantErr: `unsubstituted macros: [NOPE]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "{\n" + okProvider + "\n" + `"connectors": {"servers": {` + tt.servers + "}}\n}"
			c, err := Parse("t.hujson", []byte(src), env)
			if tt.wantErr != "" {
				var errs Errors
				if !errors.As(err, &errs) || !strings.Contains(errs[0].String(), tt.wantErr) || errs[0].Code == "" {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.warn != "" {
				if len(c.Warnings) == 0 || !strings.Contains(c.Warnings.Error(), tt.warn) {
					t.Errorf("warnings = %v, want %q", c.Warnings, tt.warn)
				}
			}
			if tt.want != nil {
				for _, k := range c.Connectors {
					k.Pos = Pos{}
				}
				if diff := cmp.Diff(tt.want, c.Connectors); diff != "" {
					t.Errorf("connectors (-want +got):\n%s", diff)
				}
				if c.Connector("github") == nil || c.Connector("nope") != nil {
					t.Error("Connector lookup by ID is wrong")
				}
			}
			if !c.GrantsDefaulted && tt.name == "every auth type" {
				t.Error("a connectors section turned the default grants off; it grants nothing itself")
			}
		})
	}
}
