package translate

import (
	"bytes"
	"testing"

	"github.com/sluice-gateway/sluice/internal/jsonbytes"
)

// requotedCases are JSON strings as an upstream may write a delta, and
// what a translated event must carry: what encoding/json's Marshal
// writes for the decoded value.
var requotedCases = []struct {
	name, in, want string
}{
	{"plain", `"Hello, world"`, `"Hello, world"`},
	{"empty", `""`, `""`},
	{"html", `"<b>a & b</b>"`, `"\u003cb\u003ea \u0026 b\u003c/b\u003e"`},
	{"escaped html", `"\u003cb\u003e"`, `"\u003cb\u003e"`},
	{"short escapes", `"a\nb\tc\"d\\e\/f\b\f\r"`, `"a\nb\tc\"d\\e/f\b\f\r"`},
	{"control by code", `"\u0001\u001f\u007f"`, `"\u0001\u001f` + "\x7f" + `"`},
	{"escaped letters", `"\u0041\u00e9"`, `"Aé"`},
	{"upper-case hex", `"\u00E9\uD83D\uDE00"`, `"é😀"`},
	{"raw unicode", `"café 😀"`, `"café 😀"`},
	{"surrogate pair", `"\ud83d\ude00"`, `"😀"`},
	{"lone high surrogate", `"a\ud83db"`, `"a` + "\uFFFD" + `b"`},
	{"lone low surrogate", `"\ude00"`, `"` + "\uFFFD" + `"`},
	{"high surrogate then escape", `"\ud83d\n"`, `"` + "\uFFFD" + `\n"`},
	{"two high surrogates", `"\ud83d\ud83d\ude00"`, `"` + "\uFFFD" + `😀"`},
	{"line separators", "\"a\u2028b\u2029\"", `"a\u2028b\u2029"`},
	{"escaped line separator", `"\u2028"`, `"\u2028"`},
	{"invalid UTF-8", "\"a\xffb\xe2\x80\"", `"a` + "\uFFFD" + `b` + "\uFFFD\uFFFD" + `"`},
	{"truncated sequence before escape", "\"\xe2\x80\\u00a8\"", `"` + "\uFFFD\uFFFD\u00a8" + `"`},
}

func TestAppendRequoted(t *testing.T) {
	for _, tt := range requotedCases {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(tt.in)
			var st streamText
			end, err := fastText(in, 0, &st)
			if err != nil || end != len(in) {
				t.Fatalf("fastText(%s) = %d, %v", in, end, err)
			}
			out := appendText([]byte("x"), st)
			if string(out) != "x"+tt.want {
				t.Errorf("appendText(%s) = %s, want %s", in, out[1:], tt.want)
			}
			checkRequoted(t, in)
		})
	}
}

// checkRequoted holds jsonbytes.AppendRequoted and streamText's String to
// decoding data, a JSON string, with jsonbytes.StringAt and writing it
// with AppendString.
func checkRequoted(t *testing.T, data []byte) {
	t.Helper()
	end, _, err := jsonbytes.ValidString(data, 0)
	if err != nil || end != len(data) {
		return
	}
	s, _, err := jsonbytes.StringAt(data, 0)
	if err != nil {
		t.Fatalf("StringAt(%q): %v", data, err)
	}
	st := streamText{raw: data}
	if got := st.String(); got != s {
		t.Fatalf("streamText(%q).String() = %q, want %q", data, got, s)
	}
	want := jsonbytes.AppendString(nil, s)
	if got := jsonbytes.AppendRequoted(nil, data[1:end-1]); !bytes.Equal(got, want) {
		t.Fatalf("AppendRequoted(%q) = %q, want %q", data, got, want)
	}
}

// FuzzRequoted holds the re-encoding of undecoded deltas to decoding
// and encoding them, on any JSON string.
func FuzzRequoted(f *testing.F) {
	for _, tt := range requotedCases {
		f.Add([]byte(tt.in))
		f.Add([]byte(tt.in[1 : len(tt.in)-1]))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkRequoted(t, b)
		checkRequoted(t, append(append([]byte{'"'}, b...), '"'))
	})
}
