package storetest

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/store"
)

// testGrants: the grants that allowed a request come back from the
// database as they went in, by ID and in listings, in config and tailnet
// form and with any character in a capability name; a refused request has
// none; a list too long for the column keeps its first sources.
func testGrants(t *testing.T, dsn string) {
	st := Open(t, dsn, store.Options{})
	var long []string
	for i := range 400 {
		long = append(long, "grants[0].example.com/cap/"+strings.Repeat("x", 20)+"["+string(rune('a'+i%26))+"]")
	}
	tests := []struct {
		id     string
		grants []string
		want   []string
	}{
		{"temp-grant", []string{"temp_grants[0].grants[1]"}, []string{"temp_grants[0].grants[1]"}},
		{"config-and-tailnet", []string{"grants[2].app.tailscale.com/cap/aperture[0]", "tailnet:caps[0]", "tailnet:caps[3]"},
			[]string{"grants[2].app.tailscale.com/cap/aperture[0]", "tailnet:caps[0]", "tailnet:caps[3]"}},
		{"odd-capability-name", []string{"grants[0].ex.com/cap/a,b\n\"c\"é[0]"}, []string{"grants[0].ex.com/cap/a,b\n\"c\"é[0]"}},
		{"nul-and-bad-utf8", []string{"tailnet:caps[0]\x00\xff"}, []string{"tailnet:caps[0]\uFFFD"}},
		{"refused", nil, nil},
	}
	var recs []store.Record
	for i, tt := range tests {
		r := rec(tt.id, "alice", "gpt-5", T0.Add(time.Duration(i)*time.Second))
		r.Grants = tt.grants
		if tt.grants == nil {
			r.Status, r.Error, r.ErrorKind = 403, "access denied by policy", "permission_error"
		}
		recs = append(recs, r)
	}
	cut := rec("long", "alice", "gpt-5", T0.Add(-time.Second))
	cut.Grants = long
	insert(t, st, append(recs, cut)...)

	ctx := context.Background()
	listed := map[string]store.Record{}
	for _, r := range all(t, st, store.Filter{}) {
		listed[r.ID] = r
	}
	for _, tt := range tests {
		got, err := st.Request(ctx, tt.id, store.Lookup{})
		if err != nil {
			t.Fatalf("Request(%s): %v", tt.id, err)
		}
		if !reflect.DeepEqual(got.Grants, tt.want) {
			t.Errorf("%s: Request grants = %q, want %q", tt.id, got.Grants, tt.want)
		}
		if l := listed[tt.id]; !reflect.DeepEqual(l.Grants, tt.want) {
			t.Errorf("%s: Requests grants = %q, want %q", tt.id, l.Grants, tt.want)
		}
	}
	got, err := st.Request(ctx, "long", store.Lookup{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(got.Grants); n == 0 || n >= len(long) || !reflect.DeepEqual(got.Grants, long[:n]) {
		t.Errorf("long list stored %d of %d sources; want a non-empty prefix, cut to the column's bound", n, len(long))
	}
}
