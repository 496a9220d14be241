package export

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/fxamacker/cbor/v2"
	"github.com/klauspost/compress/zstd"

	"github.com/sluice-gateway/sluice/store"
)

// SchemaVersion is the version of Record. It is part of every object key
// (PREFIX/v1/...), of every manifest and of every record, and changes only
// when a field changes meaning or goes away; new fields may be added to a
// version, so readers ignore the fields they do not know.
const SchemaVersion = 1

// Record is one request in an export, schema version 1. Times are Unix
// microseconds (UTC). A token count the provider did not report is absent,
// never 0.
type Record struct {
	V              int       `cbor:"v" json:"v"`
	Seq            int64     `cbor:"seq" json:"seq"`
	ID             string    `cbor:"request_id" json:"request_id"`
	TimeUS         int64     `cbor:"time_us" json:"time_us"`
	Login          string    `cbor:"login_name" json:"login_name"`
	NodeID         string    `cbor:"stable_node_id,omitempty" json:"stable_node_id,omitempty"`
	NodeName       string    `cbor:"node_name,omitempty" json:"node_name,omitempty"`
	Tailnet        string    `cbor:"tailnet_name,omitempty" json:"tailnet_name,omitempty"`
	Provider       string    `cbor:"provider" json:"provider"`
	Model          string    `cbor:"model" json:"model"`
	RequestedModel string    `cbor:"requested_model,omitempty" json:"requested_model,omitempty"`
	Format         string    `cbor:"format,omitempty" json:"format,omitempty"`
	Method         string    `cbor:"method,omitempty" json:"method,omitempty"`
	Path           string    `cbor:"path,omitempty" json:"path,omitempty"`
	Stream         bool      `cbor:"stream" json:"stream"`
	Status         int       `cbor:"status" json:"status"`
	Error          string    `cbor:"error,omitempty" json:"error,omitempty"`
	ErrorKind      string    `cbor:"error_kind,omitempty" json:"error_kind,omitempty"`
	LatencyUS      int64     `cbor:"latency_us" json:"latency_us"`
	TTFBUS         int64     `cbor:"ttfb_us" json:"ttfb_us"`
	Usage          Usage     `cbor:"usage" json:"usage"`
	CostUSD        *float64  `cbor:"cost_usd,omitempty" json:"cost_usd,omitempty"`
	ToolCalls      int       `cbor:"tool_calls" json:"tool_calls"`
	RequestBytes   int64     `cbor:"request_bytes" json:"request_bytes"`
	ResponseBytes  int64     `cbor:"response_bytes" json:"response_bytes"`
	UserAgent      string    `cbor:"user_agent,omitempty" json:"user_agent,omitempty"`
	Revision       string    `cbor:"revision,omitempty" json:"revision,omitempty"`
	SessionID      string    `cbor:"session_id,omitempty" json:"session_id,omitempty"`
	Instance       string    `cbor:"instance,omitempty" json:"instance,omitempty"`
	Grants         []string  `cbor:"grants,omitempty" json:"grants,omitempty"`
	Attempts       []Attempt `cbor:"attempts,omitempty" json:"attempts,omitempty"`
	Truncated      bool      `cbor:"truncated,omitempty" json:"truncated,omitempty"`
	Raws           []Raw     `cbor:"raws,omitempty" json:"raws,omitempty"`
}

// Usage is the token usage the provider reported; nil fields were not
// reported.
type Usage struct {
	Input      *int64 `cbor:"input_tokens,omitempty" json:"input_tokens,omitempty"`
	Output     *int64 `cbor:"output_tokens,omitempty" json:"output_tokens,omitempty"`
	CacheRead  *int64 `cbor:"cache_read_tokens,omitempty" json:"cache_read_tokens,omitempty"`
	CacheWrite *int64 `cbor:"cache_write_tokens,omitempty" json:"cache_write_tokens,omitempty"`
	Reasoning  *int64 `cbor:"reasoning_tokens,omitempty" json:"reasoning_tokens,omitempty"`
}

// Attempt is one call to a provider on the request's way.
type Attempt struct {
	Provider string `cbor:"provider" json:"provider"`
	Status   int    `cbor:"status,omitempty" json:"status,omitempty"`
	Outcome  string `cbor:"outcome" json:"outcome"`
	Error    string `cbor:"error,omitempty" json:"error,omitempty"`
}

// Raw is a raw body as the gateway stores it, present only with
// database.save_raws: Data is compressed with Codec ("zstd") and, when
// KeyID is set, sealed with AES-256-GCM under that blob key (12-byte nonce
// first, the request ID and Kind as associated data). The exporter never
// opens a sealed body: whoever reads the archive needs the key.
type Raw struct {
	Kind  string `cbor:"kind" json:"kind"`
	Codec string `cbor:"codec" json:"codec"`
	KeyID string `cbor:"key_id,omitempty" json:"key_id,omitempty"`
	Size  int    `cbor:"size" json:"size"`
	Data  []byte `cbor:"data" json:"data"`
}

// FromRow converts a stored row into a Record.
func FromRow(r store.ExportRow) Record {
	rec := Record{
		V: SchemaVersion, Seq: r.Seq, ID: r.ID, TimeUS: r.Time.UnixMicro(),
		Login: r.Login, NodeID: r.NodeID, NodeName: r.NodeName, Tailnet: r.Tailnet,
		Provider: r.Provider, Model: r.Model, RequestedModel: r.RequestedModel,
		Format: r.Format, Method: r.Method, Path: r.Path, Stream: r.Stream,
		Status: r.Status, Error: r.Error, ErrorKind: r.ErrorKind,
		LatencyUS: r.Latency.Microseconds(), TTFBUS: r.TTFB.Microseconds(),
		Usage: Usage{
			Input: r.Usage.Input.Ptr(), Output: r.Usage.Output.Ptr(), CacheRead: r.Usage.CacheRead.Ptr(),
			CacheWrite: r.Usage.CacheWrite.Ptr(), Reasoning: r.Usage.Reasoning.Ptr(),
		},
		ToolCalls: r.ToolCalls, RequestBytes: r.RequestBytes, ResponseBytes: r.ResponseBytes,
		UserAgent: r.UserAgent, Revision: r.Revision, SessionID: r.SessionID, Instance: r.Instance,
		Grants: r.Grants, Truncated: r.Truncated,
	}
	if r.CostKnown {
		c := r.CostUSD
		rec.CostUSD = &c
	}
	for _, a := range r.Attempts {
		rec.Attempts = append(rec.Attempts, Attempt{Provider: a.Provider, Status: a.Status, Outcome: a.Outcome, Error: a.Error})
	}
	for _, b := range r.Blobs {
		rec.Raws = append(rec.Raws, Raw{Kind: b.Kind, Codec: b.Codec, KeyID: b.KeyID, Size: b.Size, Data: b.Data})
	}
	return rec
}

// encMode writes deterministic CBOR (sorted map keys, shortest forms), so
// one batch always encodes to the same bytes and the same SHA-256.
var encMode = func() cbor.EncMode {
	m, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	return m
}()

// decMode bounds what a reader accepts from an archive.
var decMode = func() cbor.DecMode {
	m, err := cbor.DecOptions{MaxArrayElements: 1 << 20, MaxMapPairs: 1 << 16, MaxNestedLevels: 16}.DecMode()
	if err != nil {
		panic(err)
	}
	return m
}()

// Encode writes recs as a CBOR sequence (RFC 8742: items back to back,
// no array around them) compressed with zstd, and returns the bytes and
// their SHA-256 in hex.
func Encode(recs []Record) ([]byte, string, error) {
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, "", err
	}
	enc := encMode.NewEncoder(zw)
	for i := range recs {
		if err := enc.Encode(&recs[i]); err != nil {
			zw.Close()
			return nil, "", fmt.Errorf("encode record %s: %w", recs[i].ID, err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(buf.Bytes())
	return buf.Bytes(), hex.EncodeToString(sum[:]), nil
}

// maxObjectBytes bounds what Decode inflates one object to.
const maxObjectBytes = 4 << 30

// Decode reads an object Encode wrote.
func Decode(data []byte) ([]Record, error) {
	zr, err := zstd.NewReader(bytes.NewReader(data), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxObjectBytes))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	dec := decMode.NewDecoder(zr)
	var out []Record
	for {
		var r Record
		err := dec.Decode(&r)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("record %d: %w", len(out), err)
		}
		if r.V != SchemaVersion {
			return out, fmt.Errorf("record %d: schema version %d (this reader knows %d)", len(out), r.V, SchemaVersion)
		}
		out = append(out, r)
	}
}
