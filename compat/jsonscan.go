package compat

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/sluice-gateway/sluice/internal/jsonbytes"
)

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
	open, err := jsonbytes.Members(body, func(m jsonbytes.Member) bool {
		vs, ve := m.ValStart, m.ValEnd
		end = ve
		if i := routingIndex(m.Key, routingNames[:]); i >= 0 {
			if bad = checkRouting(m.Key, routingNames[i], routing[i] != nil, "request body"); bad != nil {
				return false
			}
			routing[i] = body[vs:ve]
			if i == routeStreamOptions {
				if bad = checkOptions(routing[i]); bad != nil {
					return false
				}
			}
		}
		for i, n := range names {
			if m.Key.Is(n) {
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
	close := jsonbytes.SkipSpace(body, open+1)
	if end >= 0 {
		close = jsonbytes.SkipSpace(body, end)
	}
	if rest := jsonbytes.SkipSpace(body, close+1); rest < len(body) {
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
	_, serr := jsonbytes.Members(opts, func(m jsonbytes.Member) bool {
		if routingIndex(m.Key, names) == 0 {
			err = checkRouting(m.Key, names[0], seen, `request body's "stream_options"`)
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
func checkRouting(key jsonbytes.Key, name string, seen bool, where string) error {
	if string(key) != name {
		return fmt.Errorf("%w: %s has a member written \"%s\", which case-insensitive decoders read as %q; write it exactly %q",
			ErrAmbiguousBody, where, []byte(key), name, name)
	}
	if seen {
		return fmt.Errorf("%w: %s has two %q members; send it once", ErrAmbiguousBody, where, name)
	}
	return nil
}

// routingIndex returns the index in names of the name key (raw, escapes
// kept) matches the way Go's encoding/json matches keys (unescaped, and
// equal under Unicode case folding), or -1.
func routingIndex(key jsonbytes.Key, names []string) int { return key.FoldIndex(names) }

// keysUnescaped is plainChunk (plain) or skimmable (not plain) for a
// chunk without a backslash, nearly every chunk of a stream: it finds the
// same keys as jsonbytes.EachKey and reads them the same way, with less
// work per key. Without escapes the key before a colon is simply the text
// between the two quotes before it, and when the chunk is also ASCII, a
// key matches a name only at the name's length and in ASCII case folding,
// so most keys cost a length check. FuzzKeysUnescaped holds it to the
// general scans.
func keysUnescaped(data []byte, plain bool) bool {
	ascii := isASCII(data)
	for i := 0; ; {
		j := bytes.IndexByte(data[i:], ':')
		if j < 0 {
			return true
		}
		colon := i + j
		i = colon + 1
		key, ok := jsonbytes.KeyBefore(data, colon)
		// A key shorter than the shortest name (in bytes, so in runes
		// too) cannot match one.
		if !ok || len(key) < len("usage") {
			continue
		}
		name := -1
		if ascii {
			name = plainNameASCII(key)
		} else {
			name = key.FoldIndex(plainNames)
		}
		switch name {
		case -1:
		case 0: // tool_calls
			return false
		case 1: // error
			if !nullAfter(data, colon) {
				return false
			}
		default: // finish_reason, usage: skimChunk reads them
			if plain && !nullAfter(data, colon) {
				return false
			}
		}
	}
}

// plainNameASCII is FoldIndex(plainNames) for an ASCII key.
func plainNameASCII(key []byte) int {
	switch len(key) {
	case len("usage"): // and len("error")
		if jsonbytes.ASCIIEqualFold(key, "usage") {
			return 3
		}
		if jsonbytes.ASCIIEqualFold(key, "error") {
			return 1
		}
	case len("tool_calls"):
		if jsonbytes.ASCIIEqualFold(key, "tool_calls") {
			return 0
		}
	case len("finish_reason"):
		if jsonbytes.ASCIIEqualFold(key, "finish_reason") {
			return 2
		}
	}
	return -1
}

// isASCII reports whether data holds only ASCII bytes, eight at a time.
func isASCII(data []byte) bool {
	var acc uint64
	i := 0
	for ; i+8 <= len(data); i += 8 {
		acc |= binary.LittleEndian.Uint64(data[i:])
	}
	for ; i < len(data); i++ {
		acc |= uint64(data[i])
	}
	return acc&0x8080808080808080 == 0
}
