package eventstream

import (
	"encoding/binary"
	"hash/crc32"
)

// AppendEvent appends the frame Encode writes for Event(eventType,
// payload), byte for byte, without the codec's encoder, header list and
// buffers: a translated Bedrock stream writes one frame per token.
func AppendEvent(dst []byte, eventType string, payload []byte) []byte {
	// Headers in the order Event sets them, each a one-byte name length,
	// the name, type 7 (string), a two-byte value length and the value.
	headersLen := 3*(1+1+2) + len(HeaderEventType) + len(eventType) +
		len(HeaderContentType) + len("application/json") +
		len(HeaderMessageType) + len(MessageTypeEvent)
	total := 12 + headersLen + len(payload) + 4
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, uint32(total))
	dst = binary.BigEndian.AppendUint32(dst, uint32(headersLen))
	dst = binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:start+8]))
	dst = appendStringHeader(dst, HeaderEventType, eventType)
	dst = appendStringHeader(dst, HeaderContentType, "application/json")
	dst = appendStringHeader(dst, HeaderMessageType, MessageTypeEvent)
	dst = append(dst, payload...)
	return binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:]))
}

// stringHeader is the event-stream type of a string header value.
const stringHeader = 7

func appendStringHeader(dst []byte, name, value string) []byte {
	dst = append(dst, byte(len(name)))
	dst = append(dst, name...)
	dst = append(dst, stringHeader)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(value)))
	return append(dst, value...)
}
