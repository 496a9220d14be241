package jsonbytes

import (
	"unicode/utf16"
	"unicode/utf8"
)

// AppendString appends s as a JSON string, quoted and escaped byte for
// byte as encoding/json's Marshal writes it: HTML's <, > and & escaped,
// U+2028 and U+2029 escaped, invalid UTF-8 replaced by U+FFFD. It lets
// an encoder write into a buffer it reuses instead of marshalling each
// string into one of its own.
func AppendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = appendEscapedByte(dst, c)
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
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// StringAt reads the JSON string whose opening quote is at i, checking it
// as ValidString does, and returns its value as encoding/json's Unmarshal
// decodes it (invalid UTF-8 and lone surrogates become U+FFFD) and the
// offset just past it. A string without escapes or non-ASCII bytes, nearly
// every key and most values, costs one copy.
func StringAt(data []byte, i int) (s string, end int, err error) {
	end, plain, err := ValidString(data, i)
	if err != nil {
		return "", 0, err
	}
	raw := data[i+1 : end-1]
	if plain {
		return string(raw), end, nil
	}
	return string(appendUnescaped(make([]byte, 0, len(raw)), raw)), end, nil
}

// appendUnescaped appends the value of the valid JSON string contents raw.
func appendUnescaped(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\':
			var r rune
			r, i = unescapeAt(raw, i)
			dst = utf8.AppendRune(dst, r)
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size == 1 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			} else {
				dst = append(dst, raw[i:i+size]...)
			}
			i += size
		}
	}
	return dst
}

// hex4 reads four hex digits.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// unescapeAt decodes the escape at raw[i] (a backslash) of valid JSON
// string contents as encoding/json does: a lone surrogate is U+FFFD. It
// returns the character and the offset past the escape.
func unescapeAt(raw []byte, i int) (rune, int) {
	switch e := raw[i+1]; e {
	case 'b':
		return '\b', i + 2
	case 'f':
		return '\f', i + 2
	case 'n':
		return '\n', i + 2
	case 'r':
		return '\r', i + 2
	case 't':
		return '\t', i + 2
	case 'u':
		r := hex4(raw[i+2 : i+6])
		i += 6
		if !utf16.IsSurrogate(r) {
			return r, i
		}
		if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
			if d := utf16.DecodeRune(r, hex4(raw[i+2:i+6])); d != utf8.RuneError {
				return d, i + 6
			}
		}
		return utf8.RuneError, i
	default: // '"', '\\', '/'
		return rune(e), i + 2
	}
}

// appendEscapedByte appends the escape AppendString writes for an ASCII
// byte it does not copy as it is.
func appendEscapedByte(dst []byte, c byte) []byte {
	const hex = "0123456789abcdef"
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
}

// AppendRequoted appends the valid JSON string contents raw (between the
// quotes, escapes and all) as AppendString writes the string they decode
// to, without decoding it first: a translated stream delta is re-encoded
// from the upstream's bytes. FuzzStrings holds the two together.
func AppendRequoted(dst, raw []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(raw); {
		c := raw[i]
		if c < utf8.RuneSelf {
			if c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, raw[start:i]...)
			if c != '\\' {
				dst = appendEscapedByte(dst, c)
				i++
				start = i
				continue
			}
			var r rune
			r, i = unescapeAt(raw, i)
			dst = appendRune(dst, r)
			start = i
			continue
		}
		r, size := utf8.DecodeRune(raw[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			// Decoding turns a byte that is not UTF-8 into U+FFFD, which
			// is then written as it is; the line separators are escaped.
			dst = append(dst, raw[start:i]...)
			dst = appendRune(dst, r)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, raw[start:]...)
	return append(dst, '"')
}

// appendRune appends r, a decoded character, as AppendString writes it.
func appendRune(dst []byte, r rune) []byte {
	const hex = "0123456789abcdef"
	switch {
	case r < utf8.RuneSelf:
		c := byte(r)
		if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
			return append(dst, c)
		}
		return appendEscapedByte(dst, c)
	case r == '\u2028' || r == '\u2029':
		return append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
	}
	return utf8.AppendRune(dst, r)
}
