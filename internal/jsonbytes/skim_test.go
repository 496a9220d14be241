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

// keyEndBytewise is keyEnd one byte at a time.
func keyEndBytewise(data []byte, i int) (int, bool) {
	plain := true
	for j := i + 1; j < len(data); j++ {
		switch c := data[j]; {
		case c == '"':
			return j + 1, plain
		case c == '\\':
			j++
			plain = false
		case c >= 0x80:
			plain = false
		}
	}
	return -1, plain
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
		{name: "long keys", doc: `{"abcdefghijklmnopq":1,"abcdefghij\u0063":2,"abcdefghijé":3,"abcdefgh":4,"abcdefgh\"":5}`,
			want: "abcdefghijklmnopq true 1\nabcdefghij\\u0063 false 2\nabcdefghijé false 3\nabcdefgh true 4\nabcdefgh\\\" false 5\n"},
		{name: "unterminated key", doc: `{"abcdefghijklmnopq`, err: true},
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
				e, plain := keyEnd(data, i)
				we, wplain := keyEndBytewise(data, i)
				if e != we || e > 0 && plain != wplain {
					t.Fatalf("%q at %d: keyEnd %d, %v; byte by byte %d, %v", data, i, e, plain, we, wplain)
				}
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
