package jsonbytes

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestMembers(t *testing.T) {
	type kv struct{ Key, Val string }
	tests := []struct {
		name    string
		in      string
		want    []kv
		wantErr bool
	}{
		{name: "empty", in: ` { } `},
		{name: "flat", in: `{"a":1,"b":"x","c":null}`, want: []kv{{"a", "1"}, {"b", `"x"`}, {"c", "null"}}},
		{name: "spaces", in: "{ \"a\" :\t[1, 2] ,\n\"b\": {} }", want: []kv{{"a", "[1, 2]"}, {"b", "{}"}}},
		{name: "brackets in strings", in: `{"a":"}]","b":[{"c":"{"}]}`, want: []kv{{"a", `"}]"`}, {"b", `[{"c":"{"}]`}}},
		{name: "escaped quote in key", in: `{"d\"e":true}`, want: []kv{{`d"e`, "true"}}},
		{name: "escaped letters in key", in: `{"\u0075sage":{"n":1}}`, want: []kv{{"usage", `{"n":1}`}}},
		{name: "escaped backslash ends key", in: `{"a\\":1}`, want: []kv{{`a\`, "1"}}},
		{name: "not an object", in: `[1]`, wantErr: true},
		{name: "cut in a key", in: `{"ab`, wantErr: true},
		{name: "cut in a value", in: `{"a":[1,2`, wantErr: true},
		{name: "no colon", in: `{"a" 1}`, wantErr: true},
		{name: "no comma", in: `{"a":1 "b":2}`, wantErr: true},
		{name: "unclosed", in: `{"a":1`, wantErr: true},
		{name: "empty value", in: `{"a":}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.in)
			ms, open, err := List(data)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, ErrSyntax) {
					t.Errorf("err %v is not ErrSyntax", err)
				}
				return
			}
			if data[open] != '{' {
				t.Errorf("open %d is %q", open, data[open])
			}
			var got []kv
			for _, m := range ms {
				got = append(got, kv{m.Key.String(), string(data[m.ValStart:m.ValEnd])})
				if data[m.KeyStart] != '"' {
					t.Errorf("member %q starts at %q", m.Key, data[m.KeyStart])
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("members (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKeyMatching(t *testing.T) {
	tests := []struct {
		raw      string
		name     string
		is, fold bool
	}{
		{`usage`, "usage", true, true},
		{`\u0075sage`, "usage", true, true},
		{`\u0055sage`, "usage", false, true},
		{`Usage`, "usage", false, true},
		{`USAGE`, "usage", false, true},
		{`ſtream`, "stream", false, true}, // encoding/json folds the long s
		{`usages`, "usage", false, false},
		{`usag`, "usage", false, false},
		{`us\"age`, "usage", false, false},
		{`\uZZZZ`, "usage", false, false}, // an invalid escape is kept as written
		{`tool_calls`, "tool_calls", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			k := Key(tt.raw)
			if got := k.Is(tt.name); got != tt.is {
				t.Errorf("Is(%q) = %v, want %v", tt.name, got, tt.is)
			}
			if got := k.Fold(tt.name); got != tt.fold {
				t.Errorf("Fold(%q) = %v, want %v", tt.name, got, tt.fold)
			}
			want := -1
			if tt.fold {
				want = 1
			}
			if got := k.FoldIndex([]string{"other", tt.name}); got != want {
				t.Errorf("FoldIndex = %d, want %d", got, want)
			}
			// encoding/json, the reference for Fold, agrees.
			var m map[string]int
			doc := `{"` + tt.raw + `":1}`
			if json.Unmarshal([]byte(doc), &m) == nil {
				for got := range m {
					if (strings.EqualFold(got, tt.name)) != tt.fold {
						t.Errorf("encoding/json reads the key as %q; Fold says %v", got, tt.fold)
					}
				}
			}
		})
	}
}

func TestValuesAndString(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{`{"id":"c","model":"gpt-5","choices":[]}`, "gpt-5"},
		{`{"choices":[{"model":"inner"}],"model":"outer"}`, "outer"},
		{`{"model":"gpt\u002d5"}`, "gpt-5"},
		{`{"m\u006fdel":"escaped-key"}`, "escaped-key"},
		{`{"model":"a","model":"b"}`, "b"},
		{`{"Model":"other case"}`, ""},
		{`{"model":null}`, ""},
		{`{"model":5}`, ""},
		{`{"id":"no model"}`, ""},
		{`{"model":"cut`, ""},
		{`not json`, ""},
	}
	for _, tt := range tests {
		if got := String([]byte(tt.in), "model"); got != tt.want {
			t.Errorf("String(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
	v, err := Values([]byte(`{"a":1,"\u0062":[2],"c":{}}`), "b", "z", "a")
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{string(v[0]), string(v[1]), string(v[2])}; !cmp.Equal(got, []string{"[2]", "", "1"}) {
		t.Errorf("Values = %q", got)
	}
}

func TestEachKey(t *testing.T) {
	long := strings.Repeat("k", MaxEachKey)
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{name: "nested keys in order", in: `{"a":{"b":[{"c":1}]},"d":2}`, want: []string{"a", "b", "c", "d"}},
		{name: "escaped key", in: `{"\u0075sage" : 1}`, want: []string{`\u0075sage`}},
		{name: "escaped quotes in a key", in: `{"x\"y\"":1}`, want: []string{`x\"y\"`}},
		{name: "colon in a value is not a key", in: `{"a":"b: c"}`, want: []string{"a"}},
		{name: "quoted text before a colon in a value", in: `{"a":"say \"usage\": 1"}`, want: []string{"a", `say \"usage\`}},
		{name: "key at the bound", in: `{"` + long + `":1}`, want: []string{long}},
		{name: "key past the bound", in: `{"` + long + `k":1,"b":2}`, want: []string{"b"}},
		{name: "no keys", in: `[1,2,"a"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.in)
			var got []string
			EachKey(data, func(k Key, colon int) bool {
				if data[colon] != ':' {
					t.Errorf("key %q: offset %d is %q, not a colon", k, colon, data[colon])
				}
				got = append(got, string(k))
				return true
			})
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
		})
	}
	n := 0
	EachKey([]byte(`{"a":1,"b":2,"c":3}`), func(Key, int) bool { n++; return n < 2 })
	if n != 2 {
		t.Errorf("EachKey went on after fn returned false: %d calls", n)
	}
}

func TestSmallHelpers(t *testing.T) {
	if got := string(Splice([]byte(`{"a":1}`), 5, 6, "true")); got != `{"a":true}` {
		t.Errorf("Splice = %s", got)
	}
	if got := string(Splice([]byte(`{}`), 1, 1, `"x":1`)); got != `{"x":1}` {
		t.Errorf("Splice insert = %s", got)
	}
	for in, want := range map[string]bool{`[]`: true, `[ ]`: true, "[\n]": true, `[1]`: false, `{}`: false, `[`: false, ``: false} {
		if EmptyArray([]byte(in)) != want {
			t.Errorf("EmptyArray(%q) = %v", in, !want)
		}
	}
	if got := Unquote([]byte(`a\nb\u00e9`)); got != "a\nbé" {
		t.Errorf("Unquote = %q", got)
	}
}

// FuzzMembers: on any bytes, EachKey reports only colons and short keys;
// whatever encoding/json reads as an object, Members walks with the same
// keys and values, and EachKey reports every one of its keys at its colon.
func FuzzMembers(f *testing.F) {
	f.Add([]byte(`{"a":1,"b":[{"c":"}"}],"d\"e":null}`))
	f.Add([]byte(` { } `))
	f.Add([]byte(`{"\u0075sage":{"x":"\":"},"z\\":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		members, _, err := List(data)
		colons := map[int]string{}
		EachKey(data, func(k Key, colon int) bool {
			if colon < 0 || colon >= len(data) || data[colon] != ':' || len(k) > MaxEachKey {
				t.Fatalf("EachKey reported %q at %d", k, colon)
			}
			colons[colon] = string(k)
			return true
		})
		var v map[string]json.RawMessage
		if !utf8.Valid(data) || json.Unmarshal(data, &v) != nil || v == nil {
			// Members accepts some invalid input (it is not a validator),
			// and keys with invalid UTF-8, which encoding/json rewrites.
			return
		}
		if err != nil {
			t.Fatalf("valid object rejected: %v", err)
		}
		for _, m := range members {
			name := m.Key.String()
			val, ok := v[name]
			if !ok {
				t.Fatalf("member %q not in the object", name)
			}
			if len(members) == len(v) && !jsonEqual(val, data[m.ValStart:m.ValEnd]) {
				t.Fatalf("member %q spans %q, want %q", name, data[m.ValStart:m.ValEnd], val)
			}
			colon := SkipSpace(data, m.KeyStart+len(m.Key)+2)
			if got, ok := colons[colon]; len(m.Key) <= MaxEachKey && (!ok || got != string(m.Key)) {
				t.Fatalf("EachKey missed key %q at %d (got %q, %v)", m.Key, colon, got, ok)
			}
			if !m.Key.Is(name) || !m.Key.Fold(name) {
				t.Fatalf("key %q does not match its own name %q", m.Key, name)
			}
		}
	})
}

func jsonEqual(a, b []byte) bool {
	var x, y bytes.Buffer
	return json.Compact(&x, a) == nil && json.Compact(&y, b) == nil && bytes.Equal(x.Bytes(), y.Bytes())
}
