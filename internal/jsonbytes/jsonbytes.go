// Package jsonbytes locates members of JSON objects in raw bytes without
// decoding them: the toolkit of compat's stream path, which must look at
// every chunk of every stream (is there usage? which event type?) and edit
// request bodies without re-encoding, and so without reordering, what it
// does not touch. The request log's writer uses its string encoder too,
// for the JSON columns it writes by hand.
//
// It is a locator, not a validator: it checks an object's structure (keys,
// colons, commas, balanced brackets), not the values it skips. Callers
// that need valid JSON decode what it found.
//
// Keys are compared the two ways decoders compare them, and every
// function names which: [Key.Is] exactly after unescaping (what a strict
// decoder reads), [Key.Fold] also regardless of case (what Go's
// encoding/json v1 matches). A key written with escapes ("\u0075sage") is
// the same key as its plain spelling to both; only a raw byte comparison
// would tell them apart, and nothing here does one.
package jsonbytes

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"
)

// ErrSyntax reports bytes that are not a JSON object where one was wanted.
var ErrSyntax = errors.New("malformed JSON object")

// Key is a member's key as written: the bytes between its quotes, escapes
// kept.
type Key []byte

// String returns the key unescaped.
func (k Key) String() string { return Unquote(k) }

// Is reports whether the key, unescaped, is name.
func (k Key) Is(name string) bool {
	if bytes.IndexByte(k, '\\') < 0 {
		return string(k) == name
	}
	return Unquote(k) == name
}

// Fold reports whether the key matches name the way Go's encoding/json
// matches struct fields: unescaped and equal under Unicode case folding.
// Plain ASCII keys, nearly all keys, take a path that does not allocate.
func (k Key) Fold(name string) bool {
	for _, c := range k {
		if c >= utf8.RuneSelf || c == '\\' {
			return strings.EqualFold(Unquote(k), name)
		}
	}
	return len(k) == len(name) && ASCIIEqualFold(k, name)
}

// FoldIndex returns the index of the first of names the key matches as
// Fold does, or -1; it looks at the key's bytes once, however many names
// there are.
func (k Key) FoldIndex(names []string) int {
	for _, c := range k {
		if c >= utf8.RuneSelf || c == '\\' {
			u := Unquote(k)
			for i, n := range names {
				if strings.EqualFold(u, n) {
					return i
				}
			}
			return -1
		}
	}
	for i, n := range names {
		if len(k) == len(n) && ASCIIEqualFold(k, n) {
			return i
		}
	}
	return -1
}

// Member locates one member of an object: data[KeyStart:ValEnd] is
// `"key": value` and data[ValStart:ValEnd] the value.
type Member struct {
	Key                        Key
	KeyStart, ValStart, ValEnd int
}

// Members walks the top-level members of the JSON object in data, in
// order, and calls fn with each; fn returns false to stop. open is the
// offset of the object's '{'.
func Members(data []byte, fn func(Member) bool) (open int, err error) {
	i := SkipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return 0, ErrSyntax
	}
	open = i
	i = SkipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return open, nil
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return 0, ErrSyntax
		}
		ks := i
		ke, err := SkipString(data, i)
		if err != nil {
			return 0, err
		}
		i = SkipSpace(data, ke)
		if i >= len(data) || data[i] != ':' {
			return 0, ErrSyntax
		}
		vs := SkipSpace(data, i+1)
		ve, err := SkipValue(data, vs)
		if err != nil {
			return 0, err
		}
		if !fn(Member{Key(data[ks+1 : ke-1]), ks, vs, ve}) {
			return open, nil
		}
		i = SkipSpace(data, ve)
		if i >= len(data) {
			return 0, ErrSyntax
		}
		if data[i] == '}' {
			return open, nil
		}
		if data[i] != ',' {
			return 0, ErrSyntax
		}
		i = SkipSpace(data, i+1)
	}
}

// List returns the top-level members of the JSON object in data, so that
// one can be edited without re-encoding the rest; open is the offset of
// the '{'.
func List(data []byte) (members []Member, open int, err error) {
	open, err = Members(data, func(m Member) bool {
		members = append(members, m)
		return true
	})
	if err != nil {
		return nil, 0, err
	}
	return members, open, nil
}

// Values returns the values of the named top-level members of the JSON
// object in data (nil for absent ones; the last one wins for duplicates),
// matching keys exactly after unescaping.
func Values(data []byte, names ...string) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, len(names))
	_, err := Members(data, func(m Member) bool {
		for i, n := range names {
			if m.Key.Is(n) {
				out[i] = data[m.ValStart:m.ValEnd]
			}
		}
		return true
	})
	return out, err
}

// String returns the top-level string member name of the JSON object in
// data, unescaped, or "" when it is absent or not a string.
func String(data []byte, name string) string {
	v, err := Values(data, name)
	if err != nil || len(v[0]) < 2 || v[0][0] != '"' {
		return ""
	}
	return Unquote(v[0][1 : len(v[0])-1])
}

// Unquote returns the raw contents of a JSON string (between its quotes)
// unescaped; contents with an invalid escape come back as they are.
func Unquote(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw)
	}
	var s string
	q := make([]byte, 0, len(raw)+2)
	q = append(append(append(q, '"'), raw...), '"')
	if json.Unmarshal(q, &s) != nil {
		return string(raw)
	}
	return s
}

// IsSpace reports whether c is JSON whitespace.
func IsSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// SkipSpace returns the offset of the first byte at or after i that is not
// JSON whitespace.
func SkipSpace(data []byte, i int) int {
	for i < len(data) && IsSpace(data[i]) {
		i++
	}
	return i
}

// SkipString returns the offset just past the string whose opening quote
// is at i.
func SkipString(data []byte, i int) (int, error) {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, ErrSyntax
}

// SkipValue returns the offset just past the value starting at i.
func SkipValue(data []byte, i int) (int, error) {
	return skipValue(data, i, true)
}

// skipValue is SkipValue (check) and SkimValue: the two differ only in
// how they pass over strings. A flag rather than a function value keeps
// both calls direct on this hot path.
func skipValue(data []byte, i int, check bool) (int, error) {
	if i >= len(data) {
		return 0, ErrSyntax
	}
	switch data[i] {
	case '"':
		if check {
			return SkipString(data, i)
		}
		return SkimString(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				var e int
				var err error
				if check {
					e, err = SkipString(data, j)
				} else {
					e, err = SkimString(data, j)
				}
				if err != nil {
					return 0, err
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, ErrSyntax
	default:
		j := i
		for j < len(data) {
			c := data[j]
			if c == ',' || c == '}' || c == ']' || IsSpace(c) {
				break
			}
			j++
		}
		if j == i {
			return 0, ErrSyntax
		}
		return j, nil
	}
}

// EmptyArray reports whether v is the JSON array [] (spaces allowed
// inside).
func EmptyArray(v []byte) bool {
	return len(v) >= 2 && v[0] == '[' && SkipSpace(v, 1) == len(v)-1
}

// Splice returns a new slice: data with data[start:end] replaced by repl.
func Splice(data []byte, start, end int, repl string) []byte {
	out := make([]byte, 0, len(data)-(end-start)+len(repl))
	out = append(out, data[:start]...)
	out = append(out, repl...)
	return append(out, data[end:]...)
}

// EachKey calls fn with every key in data, at any depth, and the offset
// of the ':' after it, without walking the structure: it searches for
// colons and reads the string that ends just before each. It is for fast
// paths that only need to know whether some key is there. A colon inside
// a string value can yield a "key" that is not one, so a match may be
// false and callers must treat one as "look closer"; a key that is there
// is never missed, unless it is longer than MaxEachKey bytes as written.
// fn returns false to stop.
func EachKey(data []byte, fn func(key Key, colon int) bool) {
	for i := 0; ; {
		j := bytes.IndexByte(data[i:], ':')
		if j < 0 {
			return
		}
		colon := i + j
		i = colon + 1
		if key, ok := KeyBefore(data, colon); ok && !fn(key, colon) {
			return
		}
	}
}

// MaxEachKey bounds the keys EachKey reports, in bytes as written. The
// bound keeps EachKey linear: without it, every colon of a long string
// value full of escaped quotes would send it back to the string's start.
// A longer key unescapes to more than MaxEachKey/6 characters (an escape
// is at most six bytes), longer than any member name fast paths look for.
const MaxEachKey = 128

// KeyBefore returns the contents of the string that ends, up to
// whitespace, just before offset colon, if it is at most MaxEachKey bytes
// long: the key EachKey reports for that colon.
func KeyBefore(data []byte, colon int) (Key, bool) {
	k := colon
	for k > 0 && IsSpace(data[k-1]) {
		k--
	}
	if k < 2 || data[k-1] != '"' {
		return nil, false
	}
	end := k - 1
	for j := end - 1; j >= 0 && end-j <= MaxEachKey+1; j-- {
		if data[j] != '"' {
			continue
		}
		// A quote preceded by an odd number of backslashes is escaped.
		n := 0
		for b := j - 1; b >= 0 && data[b] == '\\'; b-- {
			n++
		}
		if n%2 == 0 {
			return Key(data[j+1 : end]), true
		}
	}
	return nil, false
}

// ASCIIEqualFold reports whether the ASCII strings a and b are equal
// regardless of case; len(a) == len(b).
func ASCIIEqualFold(a []byte, b string) bool {
	for i := range len(a) {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
