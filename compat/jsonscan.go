package compat

import (
	"bytes"
	"encoding/json"
	"errors"
)

var errScan = errors.New("malformed JSON object")

// member locates one member of a JSON object: data[keyStart:valEnd] is
// `"key": value`.
type member struct {
	key                        string
	keyStart, valStart, valEnd int
}

// scanMembers walks the top-level members of the JSON object in data and
// calls fn with each member's key (raw, without quotes, escapes kept) and
// offsets: data[keyStart:valEnd] is `"key": value`. fn returns false to
// stop. It returns the offset of the '{'. scanMembers checks the object's
// structure, not the values it skips: it is a locator, not a validator.
func scanMembers(data []byte, fn func(key []byte, keyStart, valStart, valEnd int) bool) (open int, err error) {
	i := skipWS(data, 0)
	if i >= len(data) || data[i] != '{' {
		return 0, errScan
	}
	open = i
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == '}' {
		return open, nil
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return 0, errScan
		}
		ks := i
		ke, err := skipString(data, i)
		if err != nil {
			return 0, err
		}
		i = skipWS(data, ke)
		if i >= len(data) || data[i] != ':' {
			return 0, errScan
		}
		vs := skipWS(data, i+1)
		ve, err := skipValue(data, vs)
		if err != nil {
			return 0, err
		}
		if !fn(data[ks+1:ke-1], ks, vs, ve) {
			return open, nil
		}
		i = skipWS(data, ve)
		if i >= len(data) {
			return 0, errScan
		}
		if data[i] == '}' {
			return open, nil
		}
		if data[i] != ',' {
			return 0, errScan
		}
		i = skipWS(data, i+1)
	}
}

// keyString unescapes the raw contents of a JSON string (a key, or a value
// as topString reads it) when they have escapes.
func keyString(raw []byte) string {
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

// objectMembers lists the top-level members of the JSON object in data,
// with byte offsets, so that a member can be edited without re-encoding
// (and so reordering) the rest. open is the offset of the '{'.
func objectMembers(data []byte) (members []member, open int, err error) {
	open, err = scanMembers(data, func(key []byte, ks, vs, ve int) bool {
		members = append(members, member{keyString(key), ks, vs, ve})
		return true
	})
	if err != nil {
		return nil, 0, err
	}
	return members, open, nil
}

// topString returns the top-level string member name of the JSON object in
// data, or "" when it is absent or not a string.
func topString(data []byte, name string) string {
	v, err := topValues(data, name)
	if err != nil || len(v[0]) < 2 || v[0][0] != '"' {
		return ""
	}
	return keyString(v[0][1 : len(v[0])-1])
}

// topValues returns the values of the named top-level members of a JSON
// object (nil for absent ones; the last one wins for duplicates), reading
// no further than it must. It does not validate the values it skips.
func topValues(data []byte, names ...string) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, len(names))
	_, err := scanMembers(data, func(key []byte, _, vs, ve int) bool {
		esc := bytes.IndexByte(key, '\\') >= 0
		for i, n := range names {
			if (!esc && string(key) == n) || (esc && keyString(key) == n) {
				out[i] = data[vs:ve]
			}
		}
		return true
	})
	return out, err
}

func skipWS(data []byte, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}

// isSpace reports whether c is JSON whitespace.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// skipString returns the offset just past the string starting at i.
func skipString(data []byte, i int) (int, error) {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errScan
}

// skipValue returns the offset just past the value starting at i.
func skipValue(data []byte, i int) (int, error) {
	if i >= len(data) {
		return 0, errScan
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				e, err := skipString(data, j)
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
		return 0, errScan
	default:
		j := i
		for j < len(data) {
			c := data[j]
			if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\r' || c == '\n' {
				break
			}
			j++
		}
		if j == i {
			return 0, errScan
		}
		return j, nil
	}
}

// splice replaces data[start:end] with repl.
func splice(data []byte, start, end int, repl string) []byte {
	out := make([]byte, 0, len(data)-(end-start)+len(repl))
	out = append(out, data[:start]...)
	out = append(out, repl...)
	return append(out, data[end:]...)
}
