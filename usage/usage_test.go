package usage

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestZeroIsNotMissing(t *testing.T) {
	var u Tokens
	if u.Reported() {
		t.Fatal("zero Tokens reports counts")
	}
	u.CacheRead = Of(0)
	if n, ok := u.CacheRead.Get(); !ok || n != 0 || !u.Reported() {
		t.Errorf("a reported zero reads back as %d, %v", n, ok)
	}
	if u.Input.Reported() || u.Input.Ptr() != nil {
		t.Error("input reported though never set")
	}
	if p := u.CacheRead.Ptr(); p == nil || *p != 0 {
		t.Errorf("Ptr of a reported zero = %v", p)
	}
}

func TestMerge(t *testing.T) {
	start := Tokens{Input: Of(472), Output: Of(2), CacheRead: Of(2048)}
	delta := Tokens{Output: Of(89)}
	want := Tokens{Input: Of(472), Output: Of(89), CacheRead: Of(2048)}
	if got := start.Merge(delta); got != want {
		t.Errorf("merged %+v, want %+v", got, want)
	}
	if got := delta.Merge(Tokens{}); got != delta {
		t.Errorf("merging nothing changed %+v into %+v", delta, got)
	}
}

func TestSum(t *testing.T) {
	tests := []struct {
		name string
		in   []Count
		want Count
	}{
		{"none reported", []Count{{}, {}}, Count{}},
		{"one zero", []Count{{}, Of(0)}, Of(0)},
		{"adds reported", []Count{Of(2), {}, Of(3)}, Of(5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sum(tt.in...); got != tt.want {
				t.Errorf("Sum = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestUncachedInput(t *testing.T) {
	if (Tokens{}).UncachedInput().Reported() {
		t.Error("uncached input of nothing")
	}
	u := Tokens{Input: Of(2520), CacheRead: Of(2048), CacheWrite: Of(100)}
	if n, ok := u.UncachedInput().Get(); !ok || n != 372 {
		t.Errorf("uncached %d", n)
	}
	u.Input = Of(10)
	if n, _ := u.UncachedInput().Get(); n != 0 {
		t.Errorf("negative uncached input %d", n)
	}
}

func TestJSON(t *testing.T) {
	u := Tokens{Input: Of(12), CacheWrite: Of(0)}
	b, err := json.Marshal(u)
	if err != nil || string(b) != `{"input_tokens":12,"cache_write_tokens":0}` {
		t.Fatalf("%s %v", b, err)
	}
	var back Tokens
	if err := json.Unmarshal(b, &back); err != nil || back != u {
		t.Errorf("round trip %+v %v", back, err)
	}
	if b, _ := json.Marshal(Tokens{}); string(b) != `{}` {
		t.Errorf("empty usage %s", b)
	}
}

// TestLeaf keeps usage importable from anywhere: it imports no sluice
// package.
func TestLeaf(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); strings.HasPrefix(p, "github.com/sluice-gateway/sluice/") {
				t.Errorf("%s imports %s", name, p)
			}
		}
	}
}

// FuzzTokensJSON: whatever UnmarshalJSON accepts, MarshalJSON writes back
// to the same Tokens.
func FuzzTokensJSON(f *testing.F) {
	f.Add(`{"input_tokens":12,"cache_write_tokens":0}`)
	f.Add(`{}`)
	f.Add(`{"output_tokens":null,"reasoning_tokens":-1}`)
	f.Fuzz(func(t *testing.T, s string) {
		var u Tokens
		if json.Unmarshal([]byte(s), &u) != nil {
			return
		}
		b, err := json.Marshal(u)
		if err != nil {
			t.Fatal(err)
		}
		var back Tokens
		if err := json.Unmarshal(b, &back); err != nil || back != u {
			t.Fatalf("%s -> %+v -> %s -> %+v %v", s, u, b, back, err)
		}
	})
}
