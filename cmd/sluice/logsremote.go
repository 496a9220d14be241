package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-gateway/sluice/store"
	tokens "github.com/sluice-gateway/sluice/usage"
)

// logSource is what `sluice logs` and `sluice usage` read: the local
// database (a store.Store) or a running gateway's /api/ (remoteLog).
type logSource interface {
	Requests(ctx context.Context, f store.Filter, p store.Page) (store.RequestPage, error)
	Usage(ctx context.Context, by store.GroupBy, f store.Filter) ([]store.Aggregate, error)
	Close() error
}

// remoteLog reads the request log of a running gateway through its /api/
// endpoints, as the caller it identifies us as: an admin sees every
// user's requests, anyone else their own.
type remoteLog struct {
	base   *url.URL
	client *http.Client
}

var _ logSource = (*remoteLog)(nil)

// newRemoteLog checks the --server URL: http or https, a host, no path
// beyond "/".
func newRemoteLog(server string) (*remoteLog, error) {
	u, err := url.Parse(strings.TrimSuffix(server, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
		return nil, fmt.Errorf("--server %q: want the gateway's base URL, such as http://ai or http://127.0.0.1:8080", server)
	}
	return &remoteLog{base: u, client: &http.Client{Timeout: 30 * time.Second}}, nil
}

func (l *remoteLog) Close() error { return nil }

// filterQuery turns a filter into /api/ query parameters.
func filterQuery(f store.Filter) url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("login", f.Login)
	set("model", f.Model)
	set("provider", f.Provider)
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.UTC().Format(time.RFC3339Nano))
	}
	return q
}

// get fetches path?q into v, turning the API's {"error": …} answers into
// errors that say what the gateway said.
func (l *remoteLog) get(ctx context.Context, path string, q url.Values, v any) error {
	u := *l.base
	u.Path, u.RawQuery = path, q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return fmt.Errorf("asking %s: %w", l.base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading %s: %w", u.Path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s answered %d: %s", u.Path, resp.StatusCode, e.Error)
		}
		return fmt.Errorf("%s answered %d (is %s a sluice gateway with a request log?)", u.Path, resp.StatusCode, l.base)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s: not the request log API's JSON: %w", u.Path, err)
	}
	return nil
}

// apiRequest is the part of /api/requests' rows that logs prints.
type apiRequest struct {
	ID           string    `json:"id"`
	Time         time.Time `json:"time"`
	Login        string    `json:"login"`
	Provider     string    `json:"provider"`
	Model        string    `json:"model"`
	Status       int       `json:"status"`
	Error        string    `json:"error"`
	LatencyMS    float64   `json:"latency_ms"`
	InputTokens  *int64    `json:"input_tokens"`
	OutputTokens *int64    `json:"output_tokens"`
	CostUSD      *float64  `json:"cost_usd"`
	CostKnown    bool      `json:"cost_known"`
}

func (l *remoteLog) Requests(ctx context.Context, f store.Filter, p store.Page) (store.RequestPage, error) {
	q := filterQuery(f)
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.Cursor != "" {
		q.Set("cursor", p.Cursor)
	}
	var page struct {
		Requests   []apiRequest `json:"requests"`
		NextCursor string       `json:"next_cursor"`
	}
	if err := l.get(ctx, "/api/requests", q, &page); err != nil {
		return store.RequestPage{}, err
	}
	out := store.RequestPage{Next: page.NextCursor}
	for _, r := range page.Requests {
		rec := store.Record{ID: r.ID, Time: r.Time, Login: r.Login, Provider: r.Provider, Model: r.Model,
			Status: r.Status, Error: r.Error, Latency: time.Duration(r.LatencyMS * float64(time.Millisecond))}
		rec.Usage.Input, rec.Usage.Output = tokens.Optional(r.InputTokens), tokens.Optional(r.OutputTokens)
		if r.CostUSD != nil && r.CostKnown {
			rec.CostUSD, rec.CostKnown = *r.CostUSD, true
		}
		out.Records = append(out.Records, rec)
	}
	return out, nil
}

func (l *remoteLog) Usage(ctx context.Context, by store.GroupBy, f store.Filter) ([]store.Aggregate, error) {
	q := filterQuery(f)
	q.Set("by", string(by))
	type totals struct {
		Requests         int64   `json:"requests"`
		Errors           int64   `json:"errors"`
		InputTokens      int64   `json:"input_tokens"`
		OutputTokens     int64   `json:"output_tokens"`
		CacheReadTokens  int64   `json:"cache_read_tokens"`
		CacheWriteTokens int64   `json:"cache_write_tokens"`
		CostUSD          float64 `json:"cost_usd"`
		UnknownCost      int64   `json:"unknown_cost_requests"`
	}
	var resp struct {
		Rows []struct {
			Key string `json:"key"`
			totals
		} `json:"rows"`
	}
	if err := l.get(ctx, "/api/usage", q, &resp); err != nil {
		return nil, err
	}
	var out []store.Aggregate
	for _, r := range resp.Rows {
		out = append(out, store.Aggregate{Key: r.Key, Totals: store.Totals{Requests: r.Requests, Errors: r.Errors,
			InputTokens: r.InputTokens, OutputTokens: r.OutputTokens, CacheReadTokens: r.CacheReadTokens,
			CacheWriteTokens: r.CacheWriteTokens, CostUSD: r.CostUSD, UnknownCost: r.UnknownCost}})
	}
	return out, nil
}
