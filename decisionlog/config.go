// Package decisionlog ships policy decision-log events to a remote
// service with OPA's decision log service protocol: batches of events,
// gzip-compressed JSON arrays POSTed to <url>/logs, buffered in memory up
// to a limit and retried with backoff while the service fails, with input
// and result paths masked as OPA's system.log.mask does. Existing OPA log
// consumers read what it sends unchanged.
//
// Events come from the engine's decision log (one JSON object per line);
// a [Shipper] is the io.Writer the engine writes them to.
package decisionlog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/tailscale/hujson"
)

// Config is the decision log service file given to `sluice serve
// --decision-log-service`: HuJSON whose field names follow OPA's
// decision_logs configuration. Unknown fields are refused.
type Config struct {
	// URL is the service's base URL; events go to URL + Resource.
	URL string `json:"url"`
	// Resource is the path events are POSTed to; "/logs" by default.
	Resource string `json:"resource,omitempty"`
	// Headers are sent with every upload (an authorization token).
	Headers map[string]string `json:"headers,omitempty"`
	// Labels are added to every event, next to "id" and "version".
	Labels    map[string]string `json:"labels,omitempty"`
	Reporting Reporting         `json:"reporting,omitzero"`
	// Mask lists what to take out of events before they leave: a JSON
	// pointer string ("/input/user/caps") erases the path, an object
	// {"op": "upsert", "path": ..., "value": ...} replaces it.
	Mask []MaskRule `json:"mask,omitempty"`
}

// Reporting is when and how much is uploaded, as in OPA's
// decision_logs.reporting.
type Reporting struct {
	// MinDelaySeconds and MaxDelaySeconds bound the wait between uploads
	// (a random delay between them); while the service fails, retries
	// back off exponentially up to MaxDelaySeconds.
	MinDelaySeconds float64 `json:"min_delay_seconds,omitempty"`
	MaxDelaySeconds float64 `json:"max_delay_seconds,omitempty"`
	// UploadSizeLimitBytes bounds one upload's gzip body.
	UploadSizeLimitBytes int64 `json:"upload_size_limit_bytes,omitempty"`
	// BufferSizeLimitBytes bounds the events waiting for upload
	// (uncompressed); beyond it the oldest are dropped.
	BufferSizeLimitBytes int64 `json:"buffer_size_limit_bytes,omitempty"`
}

// Defaults: OPA's upload size limit; shorter delays than OPA's five to
// ten minutes, since a gateway's decisions are an audit trail people
// watch; a bounded buffer where OPA's is unbounded by default.
const (
	DefaultResource             = "/logs"
	DefaultMinDelay             = 1 * time.Second
	DefaultMaxDelay             = 10 * time.Second
	DefaultUploadSizeLimitBytes = 32 << 10
	DefaultBufferSizeLimitBytes = 16 << 20
)

// LoadConfig reads a decision log service file.
func LoadConfig(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("decision log service: %w", err)
	}
	c, err := ParseConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("decision log service %s: %w", path, err)
	}
	return c, nil
}

// ParseConfig reads a decision log service configuration (HuJSON),
// refusing unknown fields and checking every value.
func ParseConfig(raw []byte) (*Config, error) {
	std, err := hujson.Standardize(raw)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(std))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, err
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) check() error {
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		return fmt.Errorf("url: missing (the service's base URL, such as \"https://logs.example.com\")")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("url: %q is not an http:// or https:// URL", c.URL)
	case u.User != nil:
		return fmt.Errorf("url: the URL carries credentials; put them in headers")
	}
	if c.Resource != "" && !strings.HasPrefix(c.Resource, "/") {
		return fmt.Errorf("resource: %q must start with /", c.Resource)
	}
	r := c.Reporting
	if r.MinDelaySeconds < 0 || r.MaxDelaySeconds < 0 || r.UploadSizeLimitBytes < 0 || r.BufferSizeLimitBytes < 0 {
		return fmt.Errorf("reporting: values must not be negative")
	}
	if r.MinDelaySeconds > 0 && r.MaxDelaySeconds > 0 && r.MinDelaySeconds > r.MaxDelaySeconds {
		return fmt.Errorf("reporting: min_delay_seconds %g is above max_delay_seconds %g", r.MinDelaySeconds, r.MaxDelaySeconds)
	}
	for i := range c.Mask {
		if err := c.Mask[i].check(); err != nil {
			return fmt.Errorf("mask[%d]: %w", i, err)
		}
	}
	return nil
}

// endpoint is where uploads go.
func (c *Config) endpoint() string {
	res := c.Resource
	if res == "" {
		res = DefaultResource
	}
	return strings.TrimSuffix(c.URL, "/") + res
}

func (r Reporting) delays() (lo, hi time.Duration) {
	lo, hi = DefaultMinDelay, DefaultMaxDelay
	if r.MinDelaySeconds > 0 {
		lo = time.Duration(r.MinDelaySeconds * float64(time.Second))
	}
	if r.MaxDelaySeconds > 0 {
		hi = time.Duration(r.MaxDelaySeconds * float64(time.Second))
	}
	if hi < lo {
		hi = lo
	}
	return lo, hi
}

func orDefault(n, def int64) int64 {
	if n > 0 {
		return n
	}
	return def
}
