package decisionlog

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Shipper buffers decision-log events and uploads them to the service in
// the background. It is the io.Writer the engine's decision log writes to;
// a write never fails, so shipping never holds up or stops a decision:
// events that cannot be kept are dropped and counted.
type Shipper struct {
	endpoint    string
	headers     map[string]string
	labels      map[string]any
	labelsJSON  []byte
	mask        []MaskRule
	lo, hi      time.Duration
	uploadLimit int64
	bufferLimit int64
	client      *http.Client
	log         *slog.Logger

	mu    sync.Mutex
	buf   [][]byte // encoded events, oldest first
	size  int64
	stats Stats

	stop chan struct{}
	done chan struct{}
}

// Options are a Shipper's collaborators.
type Options struct {
	// Client makes the uploads; http.DefaultClient when nil.
	Client *http.Client
	// Logger reports failing uploads and dropped events.
	Logger *slog.Logger
	// ID and Version become every event's "id" and "version" labels: the
	// gateway instance and sluice's version.
	ID, Version string
}

// Stats counts what a Shipper did with the events it was given.
type Stats struct {
	// Sent events reached the service (it answered 2xx).
	Sent int64
	// Dropped events were lost: the buffer was full, or one event alone
	// exceeded the upload size limit.
	Dropped int64
	// FailedUploads counts uploads the service did not take.
	FailedUploads int64
	// Buffered events wait for the next upload.
	Buffered int
}

// New starts a Shipper for c. Close it to upload what is left.
func New(c *Config, o Options) *Shipper {
	s := &Shipper{
		endpoint:    c.endpoint(),
		headers:     c.Headers,
		mask:        c.Mask,
		uploadLimit: orDefault(c.Reporting.UploadSizeLimitBytes, DefaultUploadSizeLimitBytes),
		bufferLimit: orDefault(c.Reporting.BufferSizeLimitBytes, DefaultBufferSizeLimitBytes),
		client:      o.Client,
		log:         o.Logger,
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	s.lo, s.hi = c.Reporting.delays()
	if s.client == nil {
		s.client = http.DefaultClient
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.labels = map[string]any{"id": o.ID, "version": o.Version}
	for k, v := range c.Labels {
		if k != "id" && k != "version" {
			s.labels[k] = v
		}
	}
	s.labelsJSON, _ = json.Marshal(s.labels) // strings only
	go s.loop()
	return s
}

// Write takes one decision-log event (a JSON object, as the engine writes
// it), labels and masks it and buffers it for upload. It always succeeds.
func (s *Shipper) Write(line []byte) (int, error) {
	ev, err := s.event(line)
	if err != nil {
		s.mu.Lock()
		s.stats.Dropped++
		s.mu.Unlock()
		return len(line), nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.push(ev)
	return len(line), nil
}

// event turns a decision-log line into the event shipped.
func (s *Shipper) event(line []byte) ([]byte, error) {
	if len(s.mask) == 0 {
		// Nothing to take out: splice the labels in rather than decode
		// and encode the event, which would double a cached decision's
		// cost. The engine writes each event with encoding/json, never with
		// labels of its own.
		obj := bytes.TrimSpace(line)
		if len(obj) < 2 || obj[0] != '{' || obj[len(obj)-1] != '}' {
			return nil, fmt.Errorf("decision log event is not a JSON object")
		}
		out := make([]byte, 0, len(obj)+len(s.labelsJSON)+12)
		out = append(out, obj[:len(obj)-1]...)
		if len(bytes.TrimSpace(obj[1:len(obj)-1])) > 0 {
			out = append(out, ',')
		}
		out = append(out, `"labels":`...)
		out = append(out, s.labelsJSON...)
		return append(out, '}'), nil
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var ev map[string]any
	if err := dec.Decode(&ev); err != nil {
		return nil, err
	}
	ev["labels"] = s.labels
	for i := range s.mask {
		s.mask[i].apply(ev)
	}
	return json.Marshal(ev)
}

// push appends ev, dropping the oldest events to keep the buffer under
// its limit. s.mu is held.
func (s *Shipper) push(evs ...[]byte) {
	for _, ev := range evs {
		if int64(len(ev)) > s.bufferLimit {
			s.stats.Dropped++
			continue
		}
		s.buf = append(s.buf, ev)
		s.size += int64(len(ev))
	}
	for s.size > s.bufferLimit {
		s.size -= int64(len(s.buf[0]))
		s.buf[0] = nil
		s.buf = s.buf[1:]
		s.stats.Dropped++
	}
}

// Stats reports what the Shipper did so far.
func (s *Shipper) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Buffered = len(s.buf)
	return st
}

func (s *Shipper) loop() {
	defer close(s.done)
	failures := 0
	t := time.NewTimer(s.delay())
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.hi+30*time.Second)
		err := s.upload(ctx)
		cancel()
		if err != nil {
			failures++
			s.log.Warn("decision log upload failed; retrying", "endpoint", s.endpoint, "err", err, "buffered", s.Stats().Buffered)
			t.Reset(s.backoff(failures))
			continue
		}
		failures = 0
		t.Reset(s.delay())
	}
}

// delay is the wait before the next regular upload: random between the
// minimum and maximum delays, so replicas do not upload in step.
func (s *Shipper) delay() time.Duration {
	if s.hi <= s.lo {
		return s.lo
	}
	return s.lo + rand.N(s.hi-s.lo)
}

// backoff is the wait before retry n (1, 2, ...): the minimum delay
// doubled per failure, at most the maximum delay.
func (s *Shipper) backoff(n int) time.Duration {
	d := s.lo
	for i := 1; i < n && d < s.hi; i++ {
		d *= 2
	}
	return min(d, s.hi)
}

// upload sends every buffered event, in chunks under the upload size
// limit. Events of a chunk the service refused go back to the front of
// the buffer, so the next attempt sends them again, in order.
func (s *Shipper) upload(ctx context.Context) error {
	s.mu.Lock()
	evs := s.buf
	s.buf, s.size = nil, 0
	s.mu.Unlock()
	for len(evs) > 0 {
		body, n, err := s.chunk(evs)
		if err != nil {
			s.requeue(evs)
			return err
		}
		if body == nil { // the first event alone is too large
			s.mu.Lock()
			s.stats.Dropped++
			s.mu.Unlock()
			s.log.Warn("decision log event dropped: larger than upload_size_limit_bytes", "limit", s.uploadLimit)
			evs = evs[1:]
			continue
		}
		if err := s.post(ctx, body); err != nil {
			s.mu.Lock()
			s.stats.FailedUploads++
			s.mu.Unlock()
			s.requeue(evs)
			return err
		}
		s.mu.Lock()
		s.stats.Sent += int64(n)
		s.mu.Unlock()
		evs = evs[n:]
	}
	return nil
}

// requeue puts evs back before the events buffered since they were taken.
func (s *Shipper) requeue(evs [][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	newer := s.buf
	s.buf, s.size = nil, 0
	s.push(evs...)
	s.push(newer...)
}

// chunk gzips as many of evs from the front as fit in one upload, as a
// JSON array, and says how many it took; a nil body when even the first
// does not fit.
func (s *Shipper) chunk(evs [][]byte) ([]byte, int, error) {
	// Guess from the uncompressed size (JSON compresses several times),
	// then halve until the gzip body fits.
	n, raw := 0, int64(2)
	for n < len(evs) && (n == 0 || raw+int64(len(evs[n]))+1 <= 8*s.uploadLimit) {
		raw += int64(len(evs[n])) + 1
		n++
	}
	for n > 0 {
		body, err := gzipArray(evs[:n])
		if err != nil {
			return nil, 0, err
		}
		if int64(len(body)) <= s.uploadLimit {
			return body, n, nil
		}
		n /= 2
	}
	return nil, 0, nil
}

func gzipArray(evs [][]byte) ([]byte, error) {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte{'['})
	for i, ev := range evs {
		if i > 0 {
			zw.Write([]byte{','})
		}
		zw.Write(ev)
	}
	zw.Write([]byte{']'})
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func (s *Shipper) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range s.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) //nolint:errcheck // drained for reuse only
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("service answered %s", resp.Status)
	}
	return nil
}

// Close stops the periodic uploads and sends what is buffered, retrying
// with backoff until ctx ends. It reports events it could not send.
func (s *Shipper) Close(ctx context.Context) error {
	close(s.stop)
	<-s.done
	for n := 1; ; n++ {
		err := s.upload(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("decision log: %d events not shipped: %w", s.Stats().Buffered, err)
		case <-time.After(s.backoff(n)):
		}
	}
}
