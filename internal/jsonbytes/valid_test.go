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

// validStringByBytes is ValidString as it was before it passed eight
// ordinary bytes at a time: one switch per byte.
func validStringByBytes(data []byte, i int) (end int, plain bool, err error) {
	if i >= len(data) || data[i] != '"' {
		return 0, false, ErrSyntax
	}
	plain = true
	for j := i + 1; j < len(data); j++ {
		switch c := data[j]; {
		case c == '"':
			return j + 1, plain, nil
		case c < 0x20:
			return 0, false, ErrSyntax
		case c >= 0x80, c == '\\':
			plain = false
			if c == '\\' {
				j++
				if j >= len(data) {
					return 0, false, ErrSyntax
				}
				switch data[j] {
				case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				case 'u':
					if j+4 >= len(data) {
						return 0, false, ErrSyntax
					}
					for _, h := range data[j+1 : j+5] {
						if !isHex(h) {
							return 0, false, ErrSyntax
						}
					}
					j += 4
				default:
					return 0, false, ErrSyntax
				}
			}
		}
	}
	return 0, false, ErrSyntax
}

// TestValidStringWordAtATime puts each kind of byte the word loop must
// stop at in every position of a word, and strings ending at every
// length around the word size.
func TestValidStringWordAtATime(t *testing.T) {
	special := []byte{'"', '\\', 0x00, 0x1f, 0x20, 0x7f, 0x80, 0xff, 'a', '!', '#', '[', ']', '\\', 'u'}
	var cases [][]byte
	for n := 0; n < 20; n++ {
		for pos := 0; pos <= n; pos++ {
			for _, c := range special {
				s := []byte(`"` + strings.Repeat("x", n) + `"`)
				if pos < n {
					s[1+pos] = c
				}
				cases = append(cases, s, s[:len(s)-1], append([]byte(nil), append(s, `tail"`...)...))
			}
		}
	}
	cases = append(cases, []byte(`"abcdefgh\u00e9ijklmnop"`), []byte(`"abcdefg\"hijklmnop"`), []byte("\"abcdefgh\xc3\xa9\""))
	for _, c := range cases {
		end, plain, err := ValidString(c, 0)
		wEnd, wPlain, wErr := validStringByBytes(c, 0)
		if end != wEnd || plain != wPlain || (err == nil) != (wErr == nil) {
			t.Errorf("ValidString(%q) = %d, %v, %v; want %d, %v, %v", c, end, plain, err, wEnd, wPlain, wErr)
		}
	}
}

func FuzzValidString(f *testing.F) {
	f.Add([]byte(`"plain ascii text that runs past a word"`), 0)
	f.Add([]byte(`x"esc\"aped \u00e9 and \n then more"`), 1)
	f.Add([]byte("\"ctrl\x01 in the middle of a long string\""), 0)
	f.Fuzz(func(t *testing.T, data []byte, i int) {
		if i < 0 || i > len(data) {
			return
		}
		end, plain, err := ValidString(data, i)
		wEnd, wPlain, wErr := validStringByBytes(data, i)
		if end != wEnd || plain != wPlain || (err == nil) != (wErr == nil) {
			t.Fatalf("ValidString(%q, %d) = %d, %v, %v; want %d, %v, %v", data, i, end, plain, err, wEnd, wPlain, wErr)
		}
	})
}
