package store

import (
	"strconv"

	"github.com/sluice-gateway/sluice/internal/jsonbytes"
)

// The row's JSON columns (grants, decision, attempts) are written by hand
// rather than with encoding/json: for these few shapes reflection was a
// third of the CPU of preparing a row. The output is byte for byte what
// json.Marshal writes (jsonbytes' fuzz targets and the column tests hold it
// to that), so rows written before and after read the same.

// appendJSONStrings appends ss as json.Marshal encodes a []string.
func appendJSONStrings(dst []byte, ss []string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonbytes.AppendString(dst, s)
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
		dst = jsonbytes.AppendString(dst, a.Provider)
		if a.Status != 0 {
			dst = append(dst, `,"status":`...)
			dst = strconv.AppendInt(dst, int64(a.Status), 10)
		}
		dst = append(dst, `,"outcome":`...)
		dst = jsonbytes.AppendString(dst, a.Outcome)
		if a.Error != "" {
			dst = append(dst, `,"error":`...)
			dst = jsonbytes.AppendString(dst, a.Error)
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
