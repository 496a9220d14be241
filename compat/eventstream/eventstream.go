// Package eventstream reads and writes the AWS event-stream framing that
// Bedrock's streaming operations (InvokeModelWithResponseStream,
// ConverseStream) use, incrementally, as bytes pass through the gateway.
//
// Frames whose headers are all strings, nearly all Bedrock sends, are
// checked and decoded here; any other goes to the AWS SDK's codec, which
// decides what is accepted. This package adds the push-style splitting a
// tee needs: it keeps a partial frame across calls and never holds more
// than one frame.
package eventstream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	awses "github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// DefaultMaxMessageSize bounds one frame when Decoder.MaxMessageSize is
// zero. AWS documents 16 MiB payloads and 128 KiB of headers.
const DefaultMaxMessageSize = 16<<20 + 128<<10 + minFrame

// minFrame is the size of a frame without headers or payload: prelude
// (total length, headers length, prelude CRC) and message CRC.
const minFrame = 16

// Standard header names and values of the event-stream protocol.
const (
	HeaderMessageType   = ":message-type"
	HeaderEventType     = ":event-type"
	HeaderExceptionType = ":exception-type"
	HeaderContentType   = ":content-type"
	HeaderErrorCode     = ":error-code"
	HeaderErrorMessage  = ":error-message"

	MessageTypeEvent     = "event"
	MessageTypeException = "exception"
	MessageTypeError     = "error"
)

// ErrCorrupt reports a frame whose lengths or checksums are invalid. The
// stream cannot be resynchronised after it.
var ErrCorrupt = errors.New("eventstream: corrupt frame")

// ErrTruncated reports a stream that ended inside a frame.
var ErrTruncated = errors.New("eventstream: stream ends inside a frame")

// Message is one decoded frame.
type Message = awses.Message

// Headers are a frame's headers.
type Headers = awses.Headers

// Header returns the string value of the named header, or "".
func Header(m Message, name string) string {
	v := m.Headers.Get(name)
	if v == nil {
		return ""
	}
	if s, ok := v.(awses.StringValue); ok {
		return string(s)
	}
	return v.String()
}

// Decoder splits an event stream into messages incrementally. The zero
// value is ready to use. A Decoder is not safe for concurrent use.
type Decoder struct {
	// MaxMessageSize bounds one frame; zero means DefaultMaxMessageSize.
	MaxMessageSize int

	buf    []byte
	err    error
	codec  *awses.Decoder
	reader bytes.Reader
	known  []knownHeader // the last frame's headers, for fastFrame
}

// Feed consumes b and calls emit for every frame that b completes. The
// Message's payload aliases the decoder's buffer and is valid only during
// the callback. After a corrupt frame Feed ignores further input and keeps
// returning the error.
func (d *Decoder) Feed(b []byte, emit func(Message)) error {
	if d.err != nil {
		return d.err
	}
	if d.codec == nil {
		d.codec = awses.NewDecoder()
	}
	// Decode whole frames straight from b when nothing is pending, so the
	// common case (frames arriving whole) copies nothing.
	src := b
	if len(d.buf) > 0 {
		d.buf = append(d.buf, b...)
		src = d.buf
	}
	n, err := d.frames(src, emit)
	rest := src[n:]
	switch {
	case err != nil:
		d.err = err
		d.buf = nil
	case len(d.buf) > 0:
		d.buf = append(d.buf[:0], rest...)
	default:
		d.buf = append(d.buf, rest...)
	}
	if cap(d.buf) > 1<<20 && len(d.buf) < 64<<10 {
		d.buf = append([]byte(nil), d.buf...)
	}
	return d.err
}

// Buffered reports the memory the decoder holds for a partial frame.
func (d *Decoder) Buffered() int { return cap(d.buf) }

// frames decodes the complete frames at the start of src and returns how
// many bytes they took.
func (d *Decoder) frames(src []byte, emit func(Message)) (int, error) {
	max := d.MaxMessageSize
	if max <= 0 {
		max = DefaultMaxMessageSize
	}
	off := 0
	for len(src)-off >= 12 {
		total := int(binary.BigEndian.Uint32(src[off:]))
		headers := int(binary.BigEndian.Uint32(src[off+4:]))
		if total < minFrame || total > max || headers > total-minFrame {
			return off, fmt.Errorf("%w: length %d, headers %d", ErrCorrupt, total, headers)
		}
		if len(src)-off < total {
			break
		}
		m, ok := d.fastFrame(src[off : off+total])
		if !ok {
			d.reader.Reset(src[off : off+total])
			var err error
			if m, err = d.codec.Decode(&d.reader, nil); err != nil {
				return off, fmt.Errorf("%w: %w", ErrCorrupt, err)
			}
		}
		emit(m)
		off += total
	}
	return off, nil
}

// End reports whether the stream stopped inside a frame.
func (d *Decoder) End() error {
	if d.err != nil {
		return d.err
	}
	if len(d.buf) > 0 {
		return fmt.Errorf("%w (%d bytes pending)", ErrTruncated, len(d.buf))
	}
	return nil
}

// Encode writes one frame.
func Encode(w io.Writer, m Message) error {
	if err := awses.NewEncoder().Encode(w, m); err != nil {
		return fmt.Errorf("eventstream: encode: %w", err)
	}
	return nil
}

// Event builds an event frame the way Bedrock sends them: message type
// "event", the given event type and a JSON payload.
func Event(eventType string, payload []byte) Message {
	var h Headers
	h.Set(HeaderEventType, awses.StringValue(eventType))
	h.Set(HeaderContentType, awses.StringValue("application/json"))
	h.Set(HeaderMessageType, awses.StringValue(MessageTypeEvent))
	return Message{Headers: h, Payload: payload}
}

// Exception builds an exception frame: message type "exception", the given
// exception type (for example "modelStreamErrorException") and a JSON
// payload such as {"message":"..."}.
func Exception(exceptionType string, payload []byte) Message {
	var h Headers
	h.Set(HeaderExceptionType, awses.StringValue(exceptionType))
	h.Set(HeaderContentType, awses.StringValue("application/json"))
	h.Set(HeaderMessageType, awses.StringValue(MessageTypeException))
	return Message{Headers: h, Payload: payload}
}
