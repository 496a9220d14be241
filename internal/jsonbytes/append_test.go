package jsonbytes

import (
	"encoding/json"
	"testing"
)

var stringSeeds = []string{"", "plain", `quote " and \ backslash`, "line\nbreak\ttab\r\b\f\x01\x1f",
	"<html> & co", "caf\u00e9 \u2028 \u2029 \U0001F600", "bad \xff utf-8 \xe2\x82", "\x7f"}

func TestAppendStringWritesWhatMarshalWrites(t *testing.T) {
	for _, s := range stringSeeds {
		want, _ := json.Marshal(s)
		if got := AppendString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Errorf("AppendString(%q) = %s, want x%s", s, got, want)
		}
	}
}

func TestStringAtReadsWhatUnmarshalReads(t *testing.T) {
	for _, raw := range []string{`""`, `"plain"`, `"a\"b\\c\/d\b\f\n\r\t"`, `"\u00e9\u20AC"`, `"\ud83d\ude00"`,
		`"\ud83d"`, `"\ud83dx"`, `"\ude00\ud83d\u0041"`, "\"caf\xc3\xa9\"", "\"bad \xff\"", `"unterminated`, `"bad \x escape"`} {
		checkStringAt(t, []byte(raw))
	}
}

func checkStringAt(t *testing.T, raw []byte) {
	t.Helper()
	if len(raw) == 0 || raw[0] != '"' {
		// StringAt reads a string where its caller found a quote;
		// encoding/json would also skip whitespace before it.
		return
	}
	var want string
	wantErr := json.Unmarshal(raw, &want)
	got, end, err := StringAt(raw, 0)
	if err == nil && end != len(raw) {
		// Trailing bytes: encoding/json refuses the document, not the string.
		return
	}
	if (err != nil) != (wantErr != nil) || err == nil && got != want {
		t.Fatalf("StringAt(%q) = %q, %v; encoding/json: %q, %v", raw, got, err, want, wantErr)
	}
	if err == nil {
		// Re-encoding the string undecoded writes what encoding its value does.
		if requoted, encoded := AppendRequoted(nil, raw[1:end-1]), AppendString(nil, got); string(requoted) != string(encoded) {
			t.Fatalf("AppendRequoted(%q) = %s, want %s", raw, requoted, encoded)
		}
	}
}

// FuzzStrings checks the string functions against encoding/json, and
// AppendRequoted against decoding and encoding.
func FuzzStrings(f *testing.F) {
	for _, s := range stringSeeds {
		f.Add(s)
	}
	f.Add(`"\ud83d\ude00 \u00e9 \n"`)
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Fatalf("AppendString(%q) = %s, want %s", s, got, want)
		}
		checkStringAt(t, []byte(s))
		checkStringAt(t, want)
	})
}
