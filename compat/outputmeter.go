package compat

// OutputMeter estimates the output of a response while it streams, from
// the text its JSON carries, without parsing events: the gateway uses it to
// charge an answer that ended without reporting its usage, and to stop a
// stream that runs past what was reserved for it.
//
// It counts the bytes of the JSON string values of the fields that carry
// generated text in the formats' streams (content, text, delta, thinking,
// reasoning, refusal, partial_json, arguments, input) and the number of such
// values that are not empty (pieces). Every piece a provider streams holds
// at least one token, so Pieces is a lower bound on the output tokens;
// TextBytes / 4 is the usual estimate. An OpenAI Responses stream repeats
// the whole text in its closing events, so for it only the "delta" field
// counts. Text inside base64 (Bedrock InvokeModel streams) is not seen;
// the binary framing of AWS event streams is skipped.
type OutputMeter struct {
	keys map[string]bool

	inString, escape, isValue, afterColon bool
	counting                              bool
	key                                   []byte
	lastKey                               string
	pieceBytes                            int64

	textBytes, pieces int64
}

// meterKeys are the fields whose string values are generated text.
var meterKeys = map[string]bool{
	"content": true, "text": true, "delta": true, "thinking": true, "reasoning": true,
	"reasoning_content": true, "refusal": true, "partial_json": true, "arguments": true,
	"input": true, // Bedrock Converse tool-use deltas
}

// NewOutputMeter returns the meter for a response in format.
func NewOutputMeter(format string) *OutputMeter {
	keys := meterKeys
	if format == OpenAIResponses {
		keys = map[string]bool{"delta": true}
	}
	return &OutputMeter{keys: keys}
}

// maxKeyLen bounds the field names the meter remembers; longer ones are
// never counted fields.
const maxKeyLen = 32

// Write scans p; it never fails.
func (m *OutputMeter) Write(p []byte) (int, error) {
	for _, c := range p {
		if c < 0x20 {
			// A raw control byte is never inside a JSON string: it is
			// framing (SSE line ends, the binary prelude and headers
			// of an AWS event stream). It ends any string a stray
			// quote in that framing began.
			m.inString, m.escape, m.counting = false, false, false
			if c != '\t' && c != '\r' && c != '\n' {
				m.afterColon = false
			}
			continue
		}
		if m.inString {
			switch {
			case m.escape:
				m.escape = false
			case c == '\\':
				m.escape = true
			case c == '"':
				m.inString = false
				if m.counting {
					if m.pieceBytes > 0 {
						m.pieces++
					}
					m.counting = false
				} else if !m.isValue {
					m.lastKey = string(m.key)
				}
				continue
			}
			if m.counting {
				m.textBytes++
				m.pieceBytes++
			} else if !m.isValue && len(m.key) < maxKeyLen+1 {
				m.key = append(m.key, c)
			}
			continue
		}
		switch c {
		case '"':
			m.inString, m.isValue = true, m.afterColon
			m.afterColon = false
			m.key = m.key[:0]
			m.counting = m.isValue && m.keys[m.lastKey]
			m.pieceBytes = 0
		case ':':
			m.afterColon = true
		case ' ', '\t', '\r', '\n':
		default:
			m.afterColon = false
		}
	}
	return len(p), nil
}

// TextBytes is the number of text bytes seen (JSON escapes counted as
// written).
func (m *OutputMeter) TextBytes() int64 { return m.textBytes }

// Pieces is the number of non-empty text values seen.
func (m *OutputMeter) Pieces() int64 { return m.pieces }

// Tokens is the estimate of the output tokens so far: one per 4 text
// bytes, rounded up, and never fewer than the pieces.
func (m *OutputMeter) Tokens() int64 { return max((m.textBytes+3)/4, m.pieces) }
