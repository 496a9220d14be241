package jsonbytes

import (
	"encoding/binary"
	"errors"
	"math/bits"
)

// The functions below check syntax as they go, exactly as encoding/json's
// Valid does, so that a caller can validate a document and read what it
// needs from it in one pass. Each takes the offset where a value (or
// string, number, object, array) starts, without leading space, and
// returns the offset just past it.

// maxDepth is the deepest nesting encoding/json accepts.
const maxDepth = 10000

// ErrStopped is returned when a key callback asked to stop.
var ErrStopped = errors.New("stopped by the caller")

// ValidString checks the string whose opening quote is at i: no control
// characters, only JSON's escapes. Like encoding/json it does not check
// UTF-8. plain reports a string without escapes or non-ASCII bytes, whose
// raw bytes are its value.
func ValidString(data []byte, i int) (end int, plain bool, err error) {
	if i >= len(data) || data[i] != '"' {
		return 0, false, ErrSyntax
	}
	plain = true
	for j := i + 1; j < len(data); j++ {
		// Most of a string is bytes that need no look: eight of them are
		// passed at a time while none is a quote, a backslash, a control
		// character or (while the string is plain) non-ASCII, and the
		// switch below starts at the first that is.
		for j+8 <= len(data) {
			if m := notable(binary.LittleEndian.Uint64(data[j:]), plain); m != 0 {
				j += bits.TrailingZeros64(m) >> 3
				break
			}
			j += 8
		}
		if j >= len(data) {
			break
		}
		switch c := data[j]; {
		case c == '"':
			return j + 1, plain, nil
		case c < 0x20:
			return 0, false, ErrSyntax
		case c >= 0x80:
			plain = false
		case c == '\\':
			plain = false
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
	return 0, false, ErrSyntax
}

// notable marks, by its top bit, each byte of w (little-endian) that is
// a quote, a backslash or below 0x20, and with plain each non-ASCII one
// too. A marked byte may follow another (a borrow runs on), but the
// lowest mark is always a notable byte and none is missed: the classic
// "has a byte below n" trick, per byte.
func notable(w uint64, plain bool) uint64 {
	const (
		ones  = 0x0101010101010101
		high  = 0x8080808080808080
		quote = ones * '"'
		slash = ones * '\\'
	)
	q, b := w^quote, w^slash
	m := (w-ones*0x20)&^w | (q-ones)&^q | (b-ones)&^b
	if plain {
		m |= w
	}
	return m & high
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// ValidNumber checks the number at i; integer reports one without
// fraction or exponent.
func ValidNumber(data []byte, i int) (end int, integer bool, err error) {
	j := i
	if j < len(data) && data[j] == '-' {
		j++
	}
	switch {
	case j < len(data) && data[j] == '0':
		j++
	case j < len(data) && '1' <= data[j] && data[j] <= '9':
		for j < len(data) && isDigit(data[j]) {
			j++
		}
	default:
		return 0, false, ErrSyntax
	}
	integer = true
	if j < len(data) && data[j] == '.' {
		integer = false
		j++
		if j >= len(data) || !isDigit(data[j]) {
			return 0, false, ErrSyntax
		}
		for j < len(data) && isDigit(data[j]) {
			j++
		}
	}
	if j < len(data) && (data[j] == 'e' || data[j] == 'E') {
		integer = false
		j++
		if j < len(data) && (data[j] == '+' || data[j] == '-') {
			j++
		}
		if j >= len(data) || !isDigit(data[j]) {
			return 0, false, ErrSyntax
		}
		for j < len(data) && isDigit(data[j]) {
			j++
		}
	}
	return j, integer, nil
}

// ValidValue checks the value at i, and calls onKey (when not nil) with
// every object key inside it, at any depth, and the offset of the colon
// after it; onKey returns false to stop the scan with ErrStopped.
func ValidValue(data []byte, i int, onKey func(key Key, colon int) bool) (int, error) {
	return validValue(data, i, onKey, 0)
}

func validValue(data []byte, i int, onKey func(Key, int) bool, depth int) (int, error) {
	if i >= len(data) {
		return 0, ErrSyntax
	}
	switch c := data[i]; c {
	case '"':
		end, _, err := ValidString(data, i)
		return end, err
	case '{':
		if depth >= maxDepth {
			return 0, ErrSyntax
		}
		return ValidMembers(data, i, func(k Key, colon, vs int) (int, error) {
			if onKey != nil && !onKey(k, colon) {
				return 0, ErrStopped
			}
			return validValue(data, vs, onKey, depth+1)
		})
	case '[':
		if depth >= maxDepth {
			return 0, ErrSyntax
		}
		return ValidElements(data, i, func(vs int) (int, error) {
			return validValue(data, vs, onKey, depth+1)
		})
	case 't':
		return literal(data, i, "true")
	case 'f':
		return literal(data, i, "false")
	case 'n':
		return literal(data, i, "null")
	default:
		end, _, err := ValidNumber(data, i)
		return end, err
	}
}

// colonAfter returns the offset of the colon after a key ending at ke.
func colonAfter(data []byte, ke int) (int, error) {
	colon := SkipSpace(data, ke)
	if colon >= len(data) || data[colon] != ':' {
		return 0, ErrSyntax
	}
	return colon, nil
}

// next reads what follows a member or element ending at ve: the offset
// of the next one, or, at closing, the offset past it and end.
func next(data []byte, ve int, closing byte) (i int, end bool, err error) {
	i = SkipSpace(data, ve)
	if i >= len(data) {
		return 0, false, ErrSyntax
	}
	switch data[i] {
	case closing:
		return i + 1, true, nil
	case ',':
		return SkipSpace(data, i+1), false, nil
	}
	return 0, false, ErrSyntax
}

func literal(data []byte, i int, lit string) (int, error) {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return 0, ErrSyntax
	}
	return i + len(lit), nil
}

// ValidMembers checks the structure of the object at i and calls value
// with each member's key, the offset of its colon and the offset where its
// value starts; value checks the value and returns the offset past it.
func ValidMembers(data []byte, i int, value func(key Key, colon, vs int) (int, error)) (int, error) {
	if i >= len(data) || data[i] != '{' {
		return 0, ErrSyntax
	}
	i = SkipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return i + 1, nil
	}
	for {
		ke, _, err := ValidString(data, i)
		if err != nil {
			return 0, err
		}
		colon, err := colonAfter(data, ke)
		if err != nil {
			return 0, err
		}
		ve, err := value(Key(data[i+1:ke-1]), colon, SkipSpace(data, colon+1))
		if err != nil {
			return 0, err
		}
		var end bool
		if i, end, err = next(data, ve, '}'); err != nil || end {
			return i, err
		}
	}
}

// ValidElements checks the structure of the array at i and calls value
// with the offset where each element starts; value checks the element and
// returns the offset past it.
func ValidElements(data []byte, i int, value func(vs int) (int, error)) (int, error) {
	if i >= len(data) || data[i] != '[' {
		return 0, ErrSyntax
	}
	i = SkipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		return i + 1, nil
	}
	for {
		ve, err := value(i)
		if err != nil {
			return 0, err
		}
		var end bool
		if i, end, err = next(data, ve, ']'); err != nil || end {
			return i, err
		}
	}
}
