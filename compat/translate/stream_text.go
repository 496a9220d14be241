package translate

import (
	"encoding/json"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/sluice-gateway/sluice/internal/jsonbytes"
)

// streamText is a string member of a stream event that is most of the
// stream (a text or arguments delta). The fast readers leave it as the
// JSON string the upstream wrote, not decoded: a translator that writes
// it into an event of its own re-encodes those bytes (appendText), so a
// delta costs no string. Read by encoding/json (the general path), it
// holds the decoded value instead. The zero value is the empty string,
// which is also what null reads as: every reader of these members treats
// an absent, null and empty delta alike.
type streamText struct {
	// raw is the JSON string, quotes included, as written; nil when the
	// value is in s. It aliases the event's data, so it is read before
	// the next event.
	raw []byte
	s   string
}

// UnmarshalJSON reads a JSON string, or null, as encoding/json reads
// them into a string.
func (t *streamText) UnmarshalJSON(data []byte) error {
	*t = streamText{}
	if string(data) == "null" {
		return nil
	}
	return json.Unmarshal(data, &t.s)
}

// String is the decoded value.
func (t streamText) String() string {
	if t.raw == nil {
		return t.s
	}
	s, _, _ := jsonbytes.StringAt(t.raw, 0) // checked when read
	return s
}

// empty reports the empty string.
func (t streamText) empty() bool { return len(t.raw) <= 2 && t.s == "" }

// fastText reads the string (or null) at vs into *t without decoding it.
func fastText(data []byte, vs int, t *streamText) (int, error) {
	if null, end := fastNull(data, vs); null {
		*t = streamText{}
		return end, nil
	}
	end, _, err := jsonbytes.ValidString(data, vs)
	if err != nil {
		// Not a string, or not valid: encoding/json says which.
		return 0, errSlow
	}
	*t = streamText{raw: data[vs:end:end]}
	return end, nil
}

// appendText appends t as a JSON string, byte for byte as
// jsonbytes.AppendString writes its decoded value.
func appendText(dst []byte, t streamText) []byte {
	if t.raw == nil {
		return jsonbytes.AppendString(dst, t.s)
	}
	return appendRequoted(dst, t.raw[1:len(t.raw)-1])
}

// appendRequoted appends the valid JSON string contents raw (between the
// quotes, escapes and all) as jsonbytes.AppendString writes the string
// they decode to: a translated delta re-encodes the upstream's without
// decoding it first. FuzzRequoted holds the two together.
func appendRequoted(dst, raw []byte) []byte {
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

// appendEscapedByte appends the escape AppendString writes for an ASCII
// byte it does not copy.
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

// unescapeAt decodes the escape at raw[i] (a backslash) as encoding/json
// does: a lone surrogate is U+FFFD. It returns the character and the
// offset past the escape.
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
		r := hexRune(raw[i+2 : i+6])
		i += 6
		if !utf16.IsSurrogate(r) {
			return r, i
		}
		if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
			if d := utf16.DecodeRune(r, hexRune(raw[i+2:i+6])); d != utf8.RuneError {
				return d, i + 6
			}
		}
		return utf8.RuneError, i
	default: // '"', '\\', '/'
		return rune(e), i + 2
	}
}

// hexRune reads four hex digits, which ValidString has checked.
func hexRune(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c >= 'a':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}
