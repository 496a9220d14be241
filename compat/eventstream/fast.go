package eventstream

import (
	"encoding/binary"
	"hash/crc32"

	awses "github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// The SDK's codec reads a frame through an io.Reader with a checksumming
// reader, a buffer and a string for every header name and value: a dozen
// allocations for a frame whose three headers repeat from one frame to
// the next. fastFrame decodes the frames Bedrock sends (headers all
// strings, lengths within the codec's bounds, checksums right) itself,
// reusing the previous frame's header names and values when the bytes
// are the same; any other frame goes to the codec, so what is accepted,
// and the errors, are the codec's. FuzzFastFrame holds it to the codec.

// The codec's bounds on a frame's payload and headers.
const (
	codecMaxPayload = 16 << 20
	codecMaxHeaders = 128 << 10
)

// headerString is the wire type of a string header value.
const headerString = 7

// knownHeader is a header decoded before: its name, its value's bytes,
// and the value.
type knownHeader struct {
	name, raw string
	value     awses.Value
}

// fastFrame decodes the whole frame f, reusing d's known headers; ok is
// false for a frame it leaves to the codec.
func (d *Decoder) fastFrame(f []byte) (m Message, ok bool) {
	total := len(f)
	if total < minFrame {
		return Message{}, false
	}
	hlen := int(binary.BigEndian.Uint32(f[4:]))
	if hlen > codecMaxHeaders || hlen > total-minFrame || total-minFrame-hlen > codecMaxPayload ||
		crc32.ChecksumIEEE(f[:8]) != binary.BigEndian.Uint32(f[8:]) ||
		crc32.ChecksumIEEE(f[:total-4]) != binary.BigEndian.Uint32(f[total-4:]) {
		return Message{}, false
	}
	h := f[12 : 12+hlen]
	if hlen > 0 {
		m.Headers = make(Headers, 0, max(len(d.known), 4)) // nil without, as the codec's
	}
	n := 0
	for i := 0; i < len(h); n++ {
		nl := int(h[i])
		i++
		if nl == 0 || len(h)-i < nl+3 || h[i+nl] != headerString {
			return Message{}, false
		}
		name := h[i : i+nl]
		i += nl + 1
		vl := int(binary.BigEndian.Uint16(h[i:]))
		i += 2
		if len(h)-i < vl {
			return Message{}, false
		}
		raw := h[i : i+vl]
		i += vl
		if n == len(d.known) {
			d.known = append(d.known, knownHeader{})
		}
		k := &d.known[n]
		if k.name != string(name) || k.raw != string(raw) || k.value == nil {
			k.name, k.raw = string(name), string(raw)
			k.value = awses.StringValue(k.raw)
		}
		for _, prev := range m.Headers {
			if prev.Name == k.name {
				return Message{}, false // Set replaces: leave it to the codec
			}
		}
		m.Headers = append(m.Headers, awses.Header{Name: k.name, Value: k.value})
	}
	m.Payload = f[12+hlen : total-4 : total-4]
	return m, true
}
