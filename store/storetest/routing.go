package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluice-gateway/sluice/store"
)

// testRouting: the requested model and the attempts of a request that
// failed over come back as they went in; a request routed as asked has
// neither.
func testRouting(t *testing.T, dsn string) {
	st := Open(t, dsn, store.Options{})
	over := rec("failed-over", "alice", "openai/gpt-4o", T0)
	over.Provider, over.RequestedModel = "backup", "gpt-4o"
	over.Attempts = []store.Attempt{
		{Provider: "primary", Status: 503, Outcome: "server_error", Error: "upstream answered Service Unavailable"},
		{Provider: "flaky", Outcome: "unreachable", Error: "connection refused"},
		{Provider: "backup", Status: 200, Outcome: "ok"},
	}
	plain := rec("plain", "alice", "gpt-5", T0.Add(time.Second))
	insert(t, st, over, plain)
	for _, want := range []store.Record{over, plain} {
		got, err := st.Request(context.Background(), want.ID, store.Lookup{})
		if err != nil {
			t.Fatalf("Request(%s): %v", want.ID, err)
		}
		if got.RequestedModel != want.RequestedModel || got.Model != want.Model || got.Provider != want.Provider {
			t.Errorf("%s: requested %q model %q provider %q, want %q %q %q", want.ID,
				got.RequestedModel, got.Model, got.Provider, want.RequestedModel, want.Model, want.Provider)
		}
		if diff := cmp.Diff(want.Attempts, got.Attempts); diff != "" {
			t.Errorf("%s: attempts (-want +got):\n%s", want.ID, diff)
		}
	}
}
