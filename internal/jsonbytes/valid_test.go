package jsonbytes

import (
	"encoding/json"
	"strings"
	"testing"
)

// validDoc reports whether data is one valid JSON value with only space
// around it, by ValidValue.
func validDoc(data []byte) bool {
	i := SkipSpace(data, 0)
	end, err := ValidValue(data, i, nil)
	return err == nil && SkipSpace(data, end) == len(data)
}

func TestValidValueAgreesWithEncodingJSON(t *testing.T) {
	tests := []struct {
		name string
		doc  string
	}{
		{"object", `{"a":[1,-2.5e+3,true,false,null,"x\u00e9\n"],"b":{}}`},
		{"spaces", " \t\r\n[ ] \n"},
		{"leading zero", `[01]`},
		{"bare minus", `[-]`},
		{"fraction without digits", `[1.]`},
		{"exponent without digits", `[1e+]`},
		{"control character in string", "[\"a\x01\"]"},
		{"bad escape", `["\x"]`},
		{"short unicode escape", `["\u12"]`},
		{"invalid UTF-8 is accepted", "[\"\xff\"]"},
		{"trailing comma", `[1,]`},
		{"missing colon", `{"a" 1}`},
		{"non-string key", `{1:2}`},
		{"two values", `{} {}`},
		{"truncated literal", `[tru]`},
		{"empty", ``},
		{"deep but allowed", strings.Repeat("[", 10000) + strings.Repeat("]", 10000)},
		{"too deep", strings.Repeat("[", 10001) + strings.Repeat("]", 10001)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := validDoc([]byte(tt.doc)), json.Valid([]byte(tt.doc)); got != want {
				t.Errorf("ValidValue says %v, json.Valid %v", got, want)
			}
		})
	}
}

func TestValidValueReportsKeysAtAnyDepth(t *testing.T) {
	doc := []byte(`{"a":{"b":[{"c":1}]},"s":"\"d\":2"}`)
	var keys []string
	if _, err := ValidValue(doc, 0, func(k Key, colon int) bool {
		if doc[colon] != ':' {
			t.Errorf("key %s: colon offset %d holds %q", k, colon, doc[colon])
		}
		keys = append(keys, k.String())
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(keys, ","); got != "a,b,c,s" {
		t.Errorf("keys %s, want a,b,c,s (none from inside strings)", got)
	}
	if _, err := ValidValue(doc, 0, func(k Key, _ int) bool { return k.String() != "c" }); err != ErrStopped {
		t.Errorf("a callback that stops gives %v, want ErrStopped", err)
	}
}

// FuzzValidValue checks the validating scan against encoding/json.
func FuzzValidValue(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5e3,"x\u00e9"]}`, `[01]`, "\"\x01\"", `{"a":1,}`, ` null `, `-0.0E-0`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := validDoc(data), json.Valid(data); got != want {
			t.Fatalf("ValidValue says %v, json.Valid %v for %q", got, want, data)
		}
	})
}
