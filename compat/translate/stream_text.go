package translate

import (
	"encoding/json"

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
	return jsonbytes.AppendRequoted(dst, t.raw[1:len(t.raw)-1])
}
