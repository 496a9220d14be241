package export

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/sluice-gateway/sluice/policy"
)

// HTTP posts batches to a SIEM's HTTP collector as NDJSON: one Record a
// line, in JSON (raw bodies base64, as stored). Every post of a batch
// carries the same Idempotency-Key (FIRST-LAST, the batch's number range),
// so a receiver that deduplicates keeps a batch posted again after a crash
// once; every record carries its seq for receivers that deduplicate
// records instead.
type HTTP struct {
	url    string
	header http.Header
	client *http.Client
}

// DefaultHTTPTimeout bounds one post when exporters.http.timeout is 0.
const DefaultHTTPTimeout = 30 * time.Second

// NewHTTP builds the sink of exporters.http; client may be nil.
func NewHTTP(c *policy.HTTPExporter, client *http.Client) *HTTP {
	h := http.Header{}
	h.Set("Content-Type", "application/x-ndjson")
	h.Set("User-Agent", "sluice-export")
	if c.APIKey != "" {
		switch c.Authorization {
		case policy.AuthXAPIKey:
			h.Set("X-Api-Key", c.APIKey)
		case policy.AuthXGoogAPIKey:
			h.Set("X-Goog-Api-Key", c.APIKey)
		default:
			h.Set("Authorization", "Bearer "+c.APIKey)
		}
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultHTTPTimeout
	}
	if client == nil {
		client = &http.Client{}
	}
	cl := *client
	cl.Timeout = timeout
	return &HTTP{url: c.URL, header: h, client: &cl}
}

// Name is the cursor name of the HTTP exporter.
func (*HTTP) Name() string { return "http" }

// Store posts the batch; any answer but 2xx is a failure, retried from
// the cursor on the next cycle. A batch without records is not posted.
func (h *HTTP) Store(ctx context.Context, b Batch) error {
	if len(b.Records) == 0 {
		return nil
	}
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	for i := range b.Records {
		if err := enc.Encode(&b.Records[i]); err != nil {
			return fmt.Errorf("encode record %s: %w", b.Records[i].ID, err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, &body)
	if err != nil {
		return err
	}
	req.Header = h.header.Clone()
	req.Header.Set("Idempotency-Key", strconv.FormatInt(b.First, 10)+"-"+strconv.FormatInt(b.Last, 10))
	req.Header.Set("X-Sluice-Schema", strconv.Itoa(SchemaVersion))
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("post to the HTTP exporter: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("post to the HTTP exporter: %s", resp.Status)
	}
	return nil
}
