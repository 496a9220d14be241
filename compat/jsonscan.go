package compat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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

// routingNames are the request members that decide which model serves a
// request and how it is answered. Indexes are the route* constants.
var routingNames = [...]string{"model", "stream", "stream_options", "modelId"}

const (
	routeModel = iota
	routeStream
	routeStreamOptions
	routeModelID
)

// strictScan reads the named top-level members of a request body, and the
// routing members, in one pass. Upstream decoders disagree on what
// {"model":"a","model":"b"} or {"Model":"b"} means: Go's encoding/json
// takes the last duplicate and matches keys regardless of case (Unicode
// folding: "ſtream" is "stream"), other decoders take the first or match
// exactly. So a routing member must appear once, written exactly (no
// escapes, no other case), or the body is refused with ErrAmbiguousBody;
// the same holds for stream_options' include_usage. Data after the
// object is refused as well: a streaming decoder stops at the first value,
// another might read the second. The scan does not decode the body.
func strictScan(body []byte, names []string) (vals []json.RawMessage, routing [len(routingNames)]json.RawMessage, err error) {
	vals = make([]json.RawMessage, len(names))
	end := -1
	var bad error
	open, err := scanMembers(body, func(key []byte, _, vs, ve int) bool {
		end = ve
		if i := routingIndex(key, routingNames[:]); i >= 0 {
			if bad = checkRouting(key, routingNames[i], routing[i] != nil, "request body"); bad != nil {
				return false
			}
			routing[i] = body[vs:ve]
			if i == routeStreamOptions {
				if bad = checkOptions(routing[i]); bad != nil {
					return false
				}
			}
		}
		esc := bytes.IndexByte(key, '\\') >= 0
		for i, n := range names {
			if (!esc && string(key) == n) || (esc && keyString(key) == n) {
				vals[i] = body[vs:ve]
			}
		}
		return true
	})
	if err != nil {
		return nil, routing, fmt.Errorf("%w: %w", ErrInvalidBody, err)
	}
	if bad != nil {
		return nil, routing, bad
	}
	close := skipWS(body, open+1)
	if end >= 0 {
		close = skipWS(body, end)
	}
	if rest := skipWS(body, close+1); rest < len(body) {
		return nil, routing, fmt.Errorf("%w: data follows the JSON object at byte %d; send one JSON object", ErrInvalidBody, rest)
	}
	return vals, routing, nil
}

// checkOptions applies the routing rules to stream_options, whose
// include_usage decides whether a stream reports its usage.
func checkOptions(opts json.RawMessage) error {
	if len(opts) == 0 || opts[0] != '{' {
		return nil // null, or not an object: the format's own checks decide
	}
	names := []string{"include_usage"}
	seen := false
	var err error
	_, serr := scanMembers(opts, func(key []byte, _, _, _ int) bool {
		if routingIndex(key, names) == 0 {
			err = checkRouting(key, names[0], seen, `request body's "stream_options"`)
			seen = true
		}
		return err == nil
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("%w: %w", ErrInvalidBody, serr)
	}
	return nil
}

// checkRouting refuses a routing member that repeats or is not written
// exactly as its name.
func checkRouting(key []byte, name string, seen bool, where string) error {
	if string(key) != name {
		return fmt.Errorf("%w: %s has a member written \"%s\", which case-insensitive decoders read as %q; write it exactly %q",
			ErrAmbiguousBody, where, key, name, name)
	}
	if seen {
		return fmt.Errorf("%w: %s has two %q members; send it once", ErrAmbiguousBody, where, name)
	}
	return nil
}

// routingIndex returns the index in names of the name key (raw, escapes
// kept) matches the way Go's encoding/json matches keys (unescaped, and
// equal under Unicode case folding), or -1. Plain ASCII keys, nearly all
// keys, take a fast path without allocating.
func routingIndex(key []byte, names []string) int {
	plain := true
	for _, c := range key {
		if c >= 0x80 || c == '\\' {
			plain = false
			break
		}
	}
	if plain {
		for i, n := range names {
			if len(n) == len(key) && asciiEqualFold(key, n) {
				return i
			}
		}
		return -1
	}
	k := keyString(key)
	for i, n := range names {
		if strings.EqualFold(k, n) {
			return i
		}
	}
	return -1
}

// asciiEqualFold reports whether the ASCII strings a and b are equal
// regardless of case; len(a) == len(b).
func asciiEqualFold(a []byte, b string) bool {
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
