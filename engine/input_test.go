package engine

import (
	"encoding/json"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// TestInputValue holds the input document value builds, which shares
// terms between equal strings, to the one its JSON form decodes to.
func TestInputValue(t *testing.T) {
	tests := []struct {
		name string
		in   Input
	}{
		{"plain", in("alice@example.com", "openai", "gpt-5")},
		{"tags", in("alice@example.com", "openai", "gpt-5", "tag:a", "tag:b")},
		{"translated", Input{
			User:    User{Login: "bob@example.com", NodeID: "n2", Tailnet: "t", Groups: []string{"group:eng", "ops@example.com"}},
			Request: Request{Provider: "p", Model: "m", Format: "anthropic_messages", UpstreamFormat: "openai_chat", Path: "/v1/messages", RequestedModel: "alias"},
		}},
		{"empty", Input{}},
		{"caps", Input{
			User: User{Login: "carol@example.com"},
			Caps: []json.RawMessage{json.RawMessage(`{"role": "user"}`), json.RawMessage(`not json`)},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkInputValue(t, tt.in.canonical()) })
	}
}

// FuzzInputValue does what TestInputValue does for any strings, equal or
// not where value shares terms.
func FuzzInputValue(f *testing.F) {
	f.Add("alice@example.com", "tag:a", "openai", "gpt-5", "", "openai_chat", "")
	f.Add("bob@example.com", "", "p", "m", "alias", "anthropic_messages", "openai_chat")
	f.Add("", "", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, login, tag, provider, model, requested, format, upstream string) {
		x := Input{
			User:    User{Login: login, NodeID: "n1", Tailnet: "t", Tags: []string{tag}},
			Request: Request{Provider: provider, Model: model, RequestedModel: requested, Format: format, UpstreamFormat: upstream, Path: "/v1/x"},
		}
		checkInputValue(t, x.canonical())
	})
}

// checkInputValue compares in.value() with the document in's JSON form
// decodes to.
func checkInputValue(t *testing.T, in Input) {
	t.Helper()
	user := map[string]any{"login": in.User.Login, "node_id": in.User.NodeID, "tailnet": in.User.Tailnet, "tags": in.User.Tags}
	if in.User.Tags == nil {
		user["tags"] = []string{}
	}
	if len(in.User.Groups) > 0 {
		user["groups"] = in.User.Groups
	}
	if len(in.Caps) > 0 {
		caps := make([]any, len(in.Caps))
		for i, raw := range in.Caps {
			if err := json.Unmarshal(raw, &caps[i]); err != nil {
				caps[i] = nil
			}
		}
		user["caps"] = caps
	}
	doc := map[string]any{
		"user": user,
		"request": map[string]any{
			"provider": in.Request.Provider, "model": in.Request.Model, "format": in.Request.Format,
			"upstream_format": in.Request.UpstreamFormat, "path": in.Request.Path, "requested_model": in.Request.requested(),
		},
	}
	want, err := ast.InterfaceToValue(doc)
	if err != nil {
		t.Fatal(err)
	}
	if got := in.value(); ast.Compare(got, want) != 0 {
		t.Errorf("value() = %v, want %v", got, want)
	}
}
