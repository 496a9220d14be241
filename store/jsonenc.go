package store

import (
	"strconv"
	"unicode/utf8"
)

// The row's JSON columns (grants, decision, attempts) are written by hand
// rather than with encoding/json: for these few shapes reflection was a
// third of the CPU of preparing a row. The output is byte for byte what
// json.Marshal writes (FuzzAppendJSONString and the column tests hold it
// to that), so rows written before and after read the same.

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as json.Marshal encodes a string: with HTML
// characters escaped, invalid UTF-8 replaced by U+FFFD, and U+2028 and
// U+2029 escaped.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendJSONStrings appends ss as json.Marshal encodes a []string.
func appendJSONStrings(dst []byte, ss []string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, s)
	}
	return append(dst, ']')
}

// appendAttempts appends attempts as json.Marshal encodes an []Attempt.
func appendAttempts(dst []byte, attempts []Attempt) []byte {
	dst = append(dst, '[')
	for i, a := range attempts {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"provider":`...)
		dst = appendJSONString(dst, a.Provider)
		if a.Status != 0 {
			dst = append(dst, `,"status":`...)
			dst = strconv.AppendInt(dst, int64(a.Status), 10)
		}
		dst = append(dst, `,"outcome":`...)
		dst = appendJSONString(dst, a.Outcome)
		if a.Error != "" {
			dst = append(dst, `,"error":`...)
			dst = appendJSONString(dst, a.Error)
		}
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// appendDecision appends d as json.Marshal encodes it, and reports false
// when d has capabilities: raw JSON, which only encoding/json validates
// and compacts as it should.
func appendDecision(dst []byte, d *DecisionInput) ([]byte, bool) {
	if len(d.Caps) > 0 {
		return dst, false
	}
	dst = append(dst, '{')
	if len(d.Tags) > 0 {
		dst = append(dst, `"tags":`...)
		dst = appendJSONStrings(dst, d.Tags)
		dst = append(dst, ',')
	}
	if len(d.Groups) > 0 {
		dst = append(dst, `"groups":`...)
		dst = appendJSONStrings(dst, d.Groups)
		dst = append(dst, ',')
	}
	dst = append(dst, `"allow":`...)
	dst = strconv.AppendBool(dst, d.Allow)
	return append(dst, '}'), true
}
