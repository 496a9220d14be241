package compat

import "github.com/sluice-gateway/sluice/compat/eventstream"

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
// counts. The binary framing of AWS event streams is skipped; Bedrock
// InvokeModel streams, whose chunk events carry the vendor's JSON in
// base64, are split into frames and the decoded JSON is scanned.
type OutputMeter struct {
	keys map[string]bool

	// chunks is set for a format whose streams carry base64 chunks; the
	// first bytes tell a stream (frames) from a JSON body.
	chunks, sniffed bool
	frames          *eventstream.Decoder

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
	s, err := lookup(format)
	return &OutputMeter{keys: keys, chunks: err == nil && s.streamFraming() == framingEventStreamChunks}
}

// meterMaxFrame bounds the frame the meter holds to decode a base64 chunk;
// chunk events carry a delta each, far below it. A stream with a larger
// frame is metered no further.
const meterMaxFrame = 1 << 20

// maxKeyLen bounds the field names the meter remembers; longer ones are
// never counted fields.
const maxKeyLen = 32

// Write scans p; it never fails.
func (m *OutputMeter) Write(p []byte) (int, error) {
	if m.chunks {
		m.writeChunks(p)
		return len(p), nil
	}
	m.scan(p)
	return len(p), nil
}

// writeChunks meters an InvokeModel answer: the JSON inside the chunk
// events of a stream, or a plain JSON body.
func (m *OutputMeter) writeChunks(p []byte) {
	if !m.sniffed {
		i := 0
		for i < len(p) && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n') {
			i++
		}
		if i == len(p) {
			return
		}
		m.sniffed = true
		if p[i] == '{' || p[i] == '[' {
			m.chunks = false
			m.scan(p[i:])
			return
		}
		m.frames = &eventstream.Decoder{MaxMessageSize: meterMaxFrame}
	}
	if m.frames == nil {
		return
	}
	err := m.frames.Feed(p, func(msg eventstream.Message) {
		if eventstream.Header(msg, eventstream.HeaderMessageType) != eventstream.MessageTypeEvent ||
			eventstream.Header(msg, eventstream.HeaderEventType) != "chunk" {
			return
		}
		inner, err := chunkBytes(msg.Payload)
		if err != nil {
			return
		}
		// Each chunk is a whole JSON document: nothing carries over from
		// a previous one that was cut short.
		m.inString, m.escape, m.counting, m.afterColon = false, false, false, false
		m.scan(inner)
	})
	if err != nil {
		m.frames = nil
	}
}

// scan meters JSON text, skipping control bytes as framing.
func (m *OutputMeter) scan(p []byte) {
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
}

// TextBytes is the number of text bytes seen (JSON escapes counted as
// written).
func (m *OutputMeter) TextBytes() int64 { return m.textBytes }

// Pieces is the number of non-empty text values seen.
func (m *OutputMeter) Pieces() int64 { return m.pieces }

// Tokens is the estimate of the output tokens so far: one per 4 text
// bytes, rounded up, and never fewer than the pieces.
func (m *OutputMeter) Tokens() int64 { return max((m.textBytes+3)/4, m.pieces) }
