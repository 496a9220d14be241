package jsonbytes

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// skimWalk lists what SkimMembers reports for the object at the start of
// data, one "key plain value" line a member, values found with SkimValue.
func skimWalk(data []byte) (string, error) {
	var b strings.Builder
	i := SkipSpace(data, 0)
	_, err := SkimMembers(data, i, func(k Key, plain bool, vs int) (int, error) {
		ve, err := SkimValue(data, vs)
		if err == nil {
			fmt.Fprintf(&b, "%s %v %s\n", string(k), plain, data[vs:ve])
		}
		return ve, err
	})
	return b.String(), err
}

// validWalk is skimWalk by ValidMembers and ValidValue.
func validWalk(data []byte) (string, error) {
	var b strings.Builder
	i := SkipSpace(data, 0)
	_, err := ValidMembers(data, i, func(k Key, _, vs int) (int, error) {
		ve, err := ValidValue(data, vs, nil)
		if err == nil {
			fmt.Fprintf(&b, "%s %v %s\n", string(k), plainKey(k), data[vs:ve])
		}
		return ve, err
	})
	return b.String(), err
}

// plainKey reports a key without escapes or non-ASCII bytes.
func plainKey(k Key) bool {
	for _, c := range k {
		if c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
}

func TestSkim(t *testing.T) {
	tests := []struct {
		name, doc, want string
		err             bool
	}{
		{name: "members", doc: ` { "a" : "x\"y\\" , "b\u0063":[1,{"c":"]"}], "é":null}`,
			want: "a true \"x\\\"y\\\\\"\nb\\u0063 false [1,{\"c\":\"]\"}]\né false null\n"},
		{name: "empty", doc: `{}`},
		{name: "skipped values are not checked", doc: `{"a":tru,"b":"\x","c":[{]}}`, want: "a true tru\nb true \"\\x\"\nc true [{]}\n"},
		{name: "structure is", doc: `{"a":1 "b":2}`, want: "a true 1\n", err: true},
		{name: "unterminated key", doc: `{"a`, err: true},
		{name: "unterminated string", doc: `{"a":"x\"}`, err: true},
		{name: "missing colon", doc: `{"a" 1}`, err: true},
		{name: "not an object", doc: `[1]`, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := skimWalk([]byte(tt.doc))
			if got != tt.want || (err != nil) != tt.err {
				t.Errorf("got %q, %v; want %q, error %v", got, err, tt.want, tt.err)
			}
		})
	}
}

// FuzzSkim holds the skimming functions to the checking ones on valid
// JSON, and SkimString and SkimValue to SkipString and SkipValue on
// anything.
func FuzzSkim(f *testing.F) {
	for _, s := range []string{`{"a":"x\"y\\","b":[1,{"c":"]"}]}`, `{"\u00e9":"\\\"","d":{}}`, `"\\\\"`, `{"a":tru}`, `"x\`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for i := range data {
			e1, err1 := SkimValue(data, i)
			e2, err2 := SkipValue(data, i)
			if e1 != e2 || (err1 == nil) != (err2 == nil) {
				t.Fatalf("%q at %d: SkimValue %d, %v; SkipValue %d, %v", data, i, e1, err1, e2, err2)
			}
			if data[i] == '"' {
				e1, err1 = SkimString(data, i)
				e2, err2 = SkipString(data, i)
				if e1 != e2 || (err1 == nil) != (err2 == nil) {
					t.Fatalf("%q at %d: SkimString %d, %v; SkipString %d, %v", data, i, e1, err1, e2, err2)
				}
			}
		}
		if !json.Valid(data) {
			return
		}
		got, err := skimWalk(data)
		want, wantErr := validWalk(data)
		if got != want || (err == nil) != (wantErr == nil) {
			t.Fatalf("%q: skimmed %q, %v; checked %q, %v", data, got, err, want, wantErr)
		}
	})
}
