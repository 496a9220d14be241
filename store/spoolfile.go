package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"time"

	"github.com/sluice-gateway/sluice/usage"
)

// A spool segment is one append-only file:
//
//	header  8 bytes  "SLSPOOL1"
//	frame*  4 bytes  payload length n, little endian
//	        4 bytes  CRC-32C (Castagnoli) of the length bytes and the payload
//	        n bytes  payload: a version byte (1), then the record as JSON
//
// A frame counts only once it is whole and its checksum matches, so a tail
// torn by a crash (a frame cut short, or bytes the disk never wrote) is
// detected and cut off, never read as a record. The checksum covers the
// length too, so a damaged length cannot pass for a shorter valid frame.
const (
	spoolMagic      = "SLSPOOL1"
	spoolHeaderLen  = int64(len(spoolMagic))
	spoolFrameHead  = 8
	spoolPayloadV1  = 1
	maxSpoolPayload = 1 << 30 // raw bodies are bounded far below this
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// errTorn marks the point where a segment stops holding whole, valid
// frames.
var errTorn = errors.New("torn or corrupt frame")

// appendFrame appends one framed record to buf.
func appendFrame(buf []byte, r *Record) ([]byte, error) {
	payload, err := json.Marshal(toSpoolEntry(r))
	if err != nil {
		return buf, fmt.Errorf("encode record %s for the spool: %w", r.ID, err)
	}
	n := 1 + len(payload)
	if n > maxSpoolPayload {
		return buf, fmt.Errorf("record %s is %d bytes, over the spool's %d-byte frame limit", r.ID, n, maxSpoolPayload)
	}
	start := len(buf)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(n))
	buf = append(buf, 0, 0, 0, 0)
	buf = append(buf, spoolPayloadV1)
	buf = append(buf, payload...)
	crc := crc32.Update(0, crc32c, buf[start:start+4])
	crc = crc32.Update(crc, crc32c, buf[start+spoolFrameHead:])
	binary.LittleEndian.PutUint32(buf[start+4:], crc)
	return buf, nil
}

// scanFrames reads the frames of a segment body in r (the bytes after the
// header, size of them) and calls fn with each valid payload and the
// offset, relative to the body, just past its frame. It returns how many
// bytes hold whole, valid frames; err is errTorn when bytes after those
// do not form a valid frame, an I/O error, or fn's error.
func scanFrames(r io.ReaderAt, size int64, fn func(payload []byte, end int64) error) (valid int64, err error) {
	var head [spoolFrameHead]byte
	var payload []byte
	for valid < size {
		if size-valid < spoolFrameHead {
			return valid, errTorn
		}
		if _, err := r.ReadAt(head[:], valid); err != nil {
			return valid, err
		}
		n := int64(binary.LittleEndian.Uint32(head[:4]))
		if n == 0 || n > maxSpoolPayload || n > size-valid-spoolFrameHead {
			return valid, errTorn
		}
		if int64(cap(payload)) < n {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := r.ReadAt(payload, valid+spoolFrameHead); err != nil {
			return valid, err
		}
		crc := crc32.Update(0, crc32c, head[:4])
		crc = crc32.Update(crc, crc32c, payload)
		if crc != binary.LittleEndian.Uint32(head[4:]) {
			return valid, errTorn
		}
		end := valid + spoolFrameHead + n
		if fn != nil {
			if err := fn(payload, end); err != nil {
				return valid, err
			}
		}
		valid = end
	}
	return valid, nil
}

// decodePayload turns a valid frame's payload back into a record.
func decodePayload(p []byte) (Record, error) {
	if len(p) == 0 || p[0] != spoolPayloadV1 {
		return Record{}, fmt.Errorf("spool payload version %d is unknown to this version", firstByte(p))
	}
	var e spoolEntry
	if err := json.Unmarshal(p[1:], &e); err != nil {
		return Record{}, fmt.Errorf("decode spooled record: %w", err)
	}
	return e.record(), nil
}

func firstByte(p []byte) int {
	if len(p) == 0 {
		return -1
	}
	return int(p[0])
}

// spoolEntry is a Record as the spool stores it. Its field names are the
// file format, kept apart from Record's Go names so renaming a field there
// cannot make a spool written by an older version unreadable.
type spoolEntry struct {
	ID        string `json:"id"`
	TimeUS    int64  `json:"t"`
	Login     string `json:"login,omitempty"`
	NodeID    string `json:"node_id,omitempty"`
	NodeName  string `json:"node_name,omitempty"`
	Tailnet   string `json:"tailnet,omitempty"`
	Provider  string `json:"provider,omitempty"`
	Model     string `json:"model,omitempty"`
	Format    string `json:"format,omitempty"`
	Method    string `json:"method,omitempty"`
	Path      string `json:"path,omitempty"`
	Stream    bool   `json:"stream,omitempty"`
	Status    int    `json:"status,omitempty"`
	Error     string `json:"error,omitempty"`
	ErrorKind string `json:"error_kind,omitempty"`
	LatencyUS int64  `json:"latency_us,omitempty"`
	TTFBUS    int64  `json:"ttfb_us,omitempty"`
	// Token counts are absent when the provider did not report them.
	InputTokens      *int64 `json:"in,omitempty"`
	OutputTokens     *int64 `json:"out,omitempty"`
	CacheReadTokens  *int64 `json:"cache_read,omitempty"`
	CacheWriteTokens *int64 `json:"cache_write,omitempty"`
	ReasoningTokens  *int64 `json:"reasoning,omitempty"`
	// CostBits is CostUSD's IEEE 754 bits, so every float64 (also NaN,
	// which JSON cannot hold) survives the round trip.
	CostBits      uint64         `json:"cost_bits,omitempty"`
	CostKnown     bool           `json:"cost_known,omitempty"`
	ToolCalls     int            `json:"tool_calls,omitempty"`
	RequestBytes  int64          `json:"request_bytes,omitempty"`
	ResponseBytes int64          `json:"response_bytes,omitempty"`
	UserAgent     string         `json:"user_agent,omitempty"`
	Revision      string         `json:"revision,omitempty"`
	Grants        []string       `json:"grants,omitempty"`
	SessionID     string         `json:"session_id,omitempty"`
	Instance      string         `json:"instance,omitempty"`
	RawRequest    []byte         `json:"raw_request,omitempty"`
	RawResponse   []byte         `json:"raw_response,omitempty"`
	Truncated     bool           `json:"truncated,omitempty"`
	Decision      *DecisionInput `json:"decision,omitempty"`
	// RequestedModel and Attempts are routing's (absent before it).
	RequestedModel string    `json:"requested_model,omitempty"`
	Attempts       []Attempt `json:"attempts,omitempty"`
}

func toSpoolEntry(r *Record) spoolEntry {
	return spoolEntry{
		ID: r.ID, TimeUS: r.Time.UnixMicro(),
		Login: r.Login, NodeID: r.NodeID, NodeName: r.NodeName, Tailnet: r.Tailnet,
		Provider: r.Provider, Model: r.Model, Format: r.Format, Method: r.Method, Path: r.Path, Stream: r.Stream,
		Status: r.Status, Error: r.Error, ErrorKind: r.ErrorKind, LatencyUS: r.Latency.Microseconds(), TTFBUS: r.TTFB.Microseconds(),
		InputTokens: r.Usage.Input.Ptr(), OutputTokens: r.Usage.Output.Ptr(), CacheReadTokens: r.Usage.CacheRead.Ptr(),
		CacheWriteTokens: r.Usage.CacheWrite.Ptr(), ReasoningTokens: r.Usage.Reasoning.Ptr(),
		CostBits: math.Float64bits(r.CostUSD), CostKnown: r.CostKnown, ToolCalls: r.ToolCalls,
		RequestBytes: r.RequestBytes, ResponseBytes: r.ResponseBytes,
		UserAgent: r.UserAgent, Revision: r.Revision, Grants: r.Grants, SessionID: r.SessionID, Instance: r.Instance,
		RawRequest: r.RawRequest, RawResponse: r.RawResponse, Truncated: r.Truncated, Decision: r.Decision,
		RequestedModel: r.RequestedModel, Attempts: r.Attempts,
	}
}

func (e *spoolEntry) record() Record {
	return Record{
		ID: e.ID, Time: time.UnixMicro(e.TimeUS).UTC(),
		Login: e.Login, NodeID: e.NodeID, NodeName: e.NodeName, Tailnet: e.Tailnet,
		Provider: e.Provider, Model: e.Model, Format: e.Format, Method: e.Method, Path: e.Path, Stream: e.Stream,
		Status: e.Status, Error: e.Error, ErrorKind: e.ErrorKind,
		Latency: time.Duration(e.LatencyUS) * time.Microsecond, TTFB: time.Duration(e.TTFBUS) * time.Microsecond,
		Usage: usage.Tokens{
			Input: usage.Optional(e.InputTokens), Output: usage.Optional(e.OutputTokens),
			CacheRead: usage.Optional(e.CacheReadTokens), CacheWrite: usage.Optional(e.CacheWriteTokens),
			Reasoning: usage.Optional(e.ReasoningTokens),
		},
		CostUSD: math.Float64frombits(e.CostBits), CostKnown: e.CostKnown, ToolCalls: e.ToolCalls,
		RequestBytes: e.RequestBytes, ResponseBytes: e.ResponseBytes,
		UserAgent: e.UserAgent, Revision: e.Revision, Grants: e.Grants, SessionID: e.SessionID, Instance: e.Instance,
		RawRequest: e.RawRequest, RawResponse: e.RawResponse, Truncated: e.Truncated, Decision: e.Decision,
		RequestedModel: e.RequestedModel, Attempts: e.Attempts,
	}
}
