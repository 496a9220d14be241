package jsonbytes

import (
	"bytes"
	"encoding/binary"
	"math/bits"
)

// The functions below are for readers of many small documents (a
// stream's events) that check the values they read and only need to pass
// over the rest: they check an object's structure as ValidMembers does,
// but find where a key or a skipped value ends without checking what it
// holds, strings with bytes.IndexByte rather than byte by byte. On valid
// JSON they find what ValidMembers and ValidValue find (FuzzSkim).

// SkimMembers walks the members of the object at i as ValidMembers does,
// except that a key is not checked, only read to its closing quote; plain
// reports a key without escapes or non-ASCII bytes, whose raw bytes are
// its value. value reads or skips the member's value and returns the
// offset past it.
func SkimMembers(data []byte, i int, value func(key Key, plain bool, vs int) (int, error)) (int, error) {
	if i >= len(data) || data[i] != '{' {
		return 0, ErrSyntax
	}
	i = SkipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return 0, ErrSyntax
		}
		ke, plain := keyEnd(data, i)
		if ke < 0 {
			return 0, ErrSyntax
		}
		colon, err := colonAfter(data, ke)
		if err != nil {
			return 0, err
		}
		ve, err := value(Key(data[i+1:ke-1]), plain, SkipSpace(data, colon+1))
		if err != nil {
			return 0, err
		}
		var end bool
		if i, end, err = next(data, ve, '}'); err != nil || end {
			return i, err
		}
	}
}

// SkimString returns the offset just past the string whose opening quote
// is at i, as SkipString does, without checking its contents.
func SkimString(data []byte, i int) (int, error) {
	for j := i + 1; j < len(data); {
		q := bytes.IndexByte(data[j:], '"')
		if q < 0 {
			break
		}
		q += j
		// The quote is escaped when an odd number of backslashes come
		// just before it.
		n := 0
		for b := q - 1; b > i && data[b] == '\\'; b-- {
			n++
		}
		if n%2 == 0 {
			return q + 1, nil
		}
		j = q + 1
	}
	return 0, ErrSyntax
}

// SkimValue returns the offset just past the value starting at i, as
// SkipValue does, finding the strings' ends with SkimString.
func SkimValue(data []byte, i int) (int, error) {
	return skipValue(data, i, false)
}

// keyEnd returns the offset just past the closing quote of the key whose
// opening quote is at i (-1 when there is none), and whether the key is
// plain: without escapes or non-ASCII bytes. Keys are read eight bytes at
// a time until the first quote, backslash or non-ASCII byte: a stream's
// events have a dozen keys each, and reading them byte by byte was the
// largest part of skimming one.
func keyEnd(data []byte, i int) (end int, plain bool) {
	j := i + 1
	for ; j+8 <= len(data); j += 8 {
		w := binary.LittleEndian.Uint64(data[j:])
		if m := zeroBytes(w^quotes) | zeroBytes(w^backslashes) | w&highBits; m != 0 {
			j += bits.TrailingZeros64(m) / 8
			if data[j] == '"' {
				return j + 1, true
			}
			break // an escape or a non-ASCII byte: the rest byte by byte
		}
	}
	plain = true
	for ; j < len(data); j++ {
		c := data[j]
		if c == '"' {
			return j + 1, plain
		}
		if c == '\\' {
			j++
			plain = false
		} else if c >= 0x80 {
			plain = false
		}
	}
	return -1, plain
}

const (
	quotes      = 0x2222222222222222 // '"' in every byte
	backslashes = 0x5c5c5c5c5c5c5c5c
	highBits    = 0x8080808080808080
	lowBits     = 0x0101010101010101
)

// zeroBytes has the high bit of each zero byte of w set, and perhaps of
// bytes after the first zero byte (a borrow), never before it: its lowest
// set bit is exact.
func zeroBytes(w uint64) uint64 { return (w - lowBits) &^ w & highBits }
