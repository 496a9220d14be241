package compat

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/bits"

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
func keysUnescaped(data []byte, plain bool) bool { return keysStop(data, plain) < 0 }

// keysStop is keysUnescaped that tells which key turned the chunk away:
// the index in plainNames of its name, or -1 when none did.
func keysStop(data []byte, plain bool) int {
	if !isASCII(data) {
		return keysStopUnicode(data, plain)
	}
	for i := 0; ; {
		j := bytes.IndexByte(data[i:], ':')
		if j < 0 {
			return -1
		}
		colon := i + j
		i = colon + 1
		key, ok := shortKeyBefore(data, colon)
		if !ok {
			continue
		}
		switch len(key) {
		case len("usage"), len("tool_calls"), len("finish_reason"): // "error" is as long as "usage"
		default:
			continue
		}
		if name := plainNameASCII(key); !plainMemberOK(data, colon, name, plain) {
			return name
		}
	}
}

// keysStopUnicode is keysStop for a chunk that is not all ASCII, where
// keys fold as Unicode text.
func keysStopUnicode(data []byte, plain bool) int {
	for i := 0; ; {
		j := bytes.IndexByte(data[i:], ':')
		if j < 0 {
			return -1
		}
		colon := i + j
		i = colon + 1
		key, ok := jsonbytes.KeyBefore(data, colon)
		// A key shorter than the shortest name (in bytes, so in runes
		// too) cannot match one.
		if !ok || len(key) < len("usage") {
			continue
		}
		if name := key.FoldIndex(plainNames); !plainMemberOK(data, colon, name, plain) {
			return name
		}
	}
}

// plainMemberOK reports whether the member whose key is plainNames[name]
// (none for -1) and whose colon is at colon leaves a chunk plain (plain)
// or skimmable (not plain).
func plainMemberOK(data []byte, colon, name int, plain bool) bool {
	switch name {
	case -1:
		return true
	case 0: // tool_calls
		return false
	case 1: // error
		return nullAfter(data, colon)
	default: // finish_reason, usage: skimChunk reads them
		return !plain || nullAfter(data, colon)
	}
}

// shortKeyBefore is jsonbytes.KeyBefore for data without backslashes,
// as far as keys of up to 15 bytes go: a longer key, which matches no
// plain name when the chunk is ASCII (an ASCII key matches a name only at
// its length), is not reported. It finds the key's opening quote among
// the 16 bytes before the closing one a word at a time, where KeyBefore
// steps back a byte at a time, counting backslashes.
func shortKeyBefore(data []byte, colon int) (jsonbytes.Key, bool) {
	k := colon
	for k > 0 && jsonbytes.IsSpace(data[k-1]) {
		k--
	}
	if k < 2 || data[k-1] != '"' {
		return nil, false
	}
	end := k - 1 // the closing quote
	if end < 16 {
		j := bytes.LastIndexByte(data[:end], '"')
		if j < 0 {
			return nil, false
		}
		return jsonbytes.Key(data[j+1 : end]), true
	}
	// In a little-endian word the byte nearest the closing quote is the
	// highest, so the leading zeros of the mask count the bytes after the
	// nearest quote.
	if m := quoteMask(binary.LittleEndian.Uint64(data[end-8 : end])); m != 0 {
		return jsonbytes.Key(data[end-bits.LeadingZeros64(m)/8 : end]), true
	}
	if m := quoteMask(binary.LittleEndian.Uint64(data[end-16 : end-8])); m != 0 {
		return jsonbytes.Key(data[end-8-bits.LeadingZeros64(m)/8 : end]), true
	}
	return nil, false
}

// quoteMask sets the high bit of each byte of w that is a double quote,
// and no other bit. Unlike the usual zero-byte test, it has no false
// positives: no byte's sum carries into the next.
func quoteMask(w uint64) uint64 {
	const low7 = 0x7f7f7f7f7f7f7f7f
	x := w ^ 0x2222222222222222 // quotes become zero bytes
	return ^((x&low7 + low7) | x | low7)
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
