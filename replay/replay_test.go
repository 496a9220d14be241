package replay

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/rego"
	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/store/storetest"
)

// translatingConfig serves m1 from a provider that speaks chat
// completions only and translates for clients of other formats.
const translatingConfig = `{"providers": {
	"chatonly": {"baseurl": "https://chat.example", "apikey": "k", "models": ["m1"], "translate": true,
		"compatibility": {"openai_chat": true}}},
	"temp_grants": [{"src": ["*"], "grants": [{"role": "user"}, {"providers": [{"provider": "*", "model": "*"}]}]}]}`

const denyTranslation = `package sluice.authz

deny contains "no translation" if input.request.format != input.request.upstream_format
`

// TestReplayTranslatedRequests: a logged request the gateway served by
// translating is decided again as translated (with the upstream format the
// gateway would use), so replaying the same policy changes nothing and a
// policy that forbids translation loses exactly those requests. A token
// count, which never translates, stays refused.
func TestReplayTranslatedRequests(t *testing.T) {
	ctx := context.Background()
	cfg, err := policy.Parse("c.hujson", []byte(translatingConfig), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	st := storetest.Open(t, filepath.Join(t.TempDir(), "log.db"), store.Options{})
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	logged := func(id, format, path string, allowed bool) store.Record {
		return store.Record{ID: id, Time: t0, Login: "dev@example.com", Model: "m1", Provider: "chatonly",
			Format: format, Method: "POST", Path: path, Status: 200, Decision: &store.DecisionInput{Allow: allowed}}
	}
	if err := st.Insert(ctx, []store.Record{
		logged("a1", policy.FormatAnthropicMessages, "/v1/messages", true),
		logged("a2", policy.FormatAnthropicMessages, "/v1/messages", true),
		logged("c1", policy.FormatOpenAIChat, "/v1/chat/completions", true),
		logged("t1", policy.FormatAnthropicMessages, "/v1/messages/count_tokens", false),
	}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts []engine.Option
		want []Change
	}{
		{"same policy", nil, []Change{}},
		{"translation forbidden", []engine.Option{engine.WithModules(rego.Module{Name: "nt.rego", Text: []byte(denyTranslation)})},
			[]Change{{User: "dev@example.com", Model: "m1", Change: "lost", Requests: 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng, err := engine.New(ctx, cfg, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Run(ctx, st, eng, store.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Replayed != 4 || !reflect.DeepEqual(rep.Changes, tt.want) {
				t.Errorf("replayed %d with changes %+v; want 4 with %+v", rep.Replayed, rep.Changes, tt.want)
			}
		})
	}
}
