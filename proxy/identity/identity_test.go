package identity

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

// equalIdentity compares two identities field by field.
func equalIdentity(a, b Identity) bool {
	return a.Login == b.Login && a.DisplayName == b.DisplayName && a.NodeID == b.NodeID &&
		a.NodeName == b.NodeName && a.Tailnet == b.Tailnet && slices.Equal(a.Tags, b.Tags)
}

func TestTagsLogin(t *testing.T) {
	tests := []struct {
		name string
		tags []string
		want string
	}{
		{name: "one tag", tags: []string{"tag:ci"}, want: "tag:ci"},
		{name: "sorted", tags: []string{"tag:server", "tag:ci", "tag:gpu"}, want: "tag:ci,tag:gpu,tag:server"},
		{name: "none", tags: nil, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.tags)
			if got := TagsLogin(in); got != tt.want {
				t.Errorf("TagsLogin(%q) = %q, want %q", tt.tags, got, tt.want)
			}
			if !slices.Equal(in, tt.tags) {
				t.Errorf("TagsLogin reordered its argument: %q", in)
			}
		})
	}
}

func TestContext(t *testing.T) {
	if _, ok := FromContext(context.Background()); ok {
		t.Fatal("FromContext found an identity in an empty context")
	}
	want := Identity{Login: "tag:ci", NodeID: "n1", Tags: []string{"tag:ci"}}
	got, ok := FromContext(NewContext(context.Background(), want))
	if !ok || !equalIdentity(got, want) {
		t.Fatalf("FromContext = %+v, %v; want %+v", got, ok, want)
	}
}

func TestResolverFunc(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		f       ResolverFunc
		want    Identity
		wantErr error
	}{
		{name: "identity", f: func(r *http.Request) (Identity, error) { return Identity{Login: r.Header.Get("X-Who")}, nil }, want: Identity{Login: "alice"}},
		{name: "error", f: func(*http.Request) (Identity, error) { return Identity{}, boom }, wantErr: boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("X-Who", "alice")
			got, err := tt.f.Identify(r)
			if !errors.Is(err, tt.wantErr) || !equalIdentity(got, tt.want) {
				t.Errorf("Identify = %+v, %v; want %+v, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
