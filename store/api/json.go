package api

import (
	"time"

	"github.com/sluice-gateway/sluice/store"
)

// The JSON shapes of the API. Durations are in milliseconds, times in
// RFC 3339, field names in snake_case.

type requestJSON struct {
	ID        string    `json:"id"`
	Time      time.Time `json:"time"`
	Login     string    `json:"login"`
	NodeID    string    `json:"node_id,omitempty"`
	NodeName  string    `json:"node_name,omitempty"`
	Tailnet   string    `json:"tailnet,omitempty"`
	Provider  string    `json:"provider"`
	Model     string    `json:"model"`
	Format    string    `json:"format"`
	Method    string    `json:"method,omitempty"`
	Path      string    `json:"path"`
	Stream    bool      `json:"stream"`
	Status    int       `json:"status"`
	Error     string    `json:"error,omitempty"`
	ErrorKind string    `json:"error_kind,omitempty"`
	LatencyMS float64   `json:"latency_ms"`
	TTFBMS    float64   `json:"ttfb_ms"`
	// Token counts the provider did not report are absent, never 0;
	// cost_usd is absent when the usage it comes from was not reported
	// (cost_known is then false).
	InputTokens      *int64   `json:"input_tokens,omitempty"`
	OutputTokens     *int64   `json:"output_tokens,omitempty"`
	CacheReadTokens  *int64   `json:"cache_read_tokens,omitempty"`
	CacheWriteTokens *int64   `json:"cache_write_tokens,omitempty"`
	ReasoningTokens  *int64   `json:"reasoning_tokens,omitempty"`
	CostUSD          *float64 `json:"cost_usd,omitempty"`
	CostKnown        bool     `json:"cost_known"`
	ToolCalls        int      `json:"tool_calls"`
	RequestBytes     int64    `json:"request_bytes"`
	ResponseBytes    int64    `json:"response_bytes"`
	UserAgent        string   `json:"user_agent,omitempty"`
	Revision         string   `json:"revision,omitempty"`
	Grants           []string `json:"grants,omitempty"` // what allowed it: "grants[0].app.tailscale.com/cap/aperture[1]", "tailnet:caps[0]"; absent when refused
	SessionID        string   `json:"session_id,omitempty"`
	Instance         string   `json:"instance,omitempty"`
	HasRaws          bool     `json:"has_raws"`
	Truncated        bool     `json:"truncated"`
	// RequestedModel is the model the client asked for when routing sent
	// it to model instead; Attempts the providers tried, in order.
	RequestedModel string          `json:"requested_model,omitempty"`
	Attempts       []store.Attempt `json:"attempts,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func toRequestJSON(r *store.Record) requestJSON {
	var cost *float64
	if r.CostKnown || r.UsageComplete() {
		cost = &r.CostUSD
	}
	u := r.Usage
	return requestJSON{
		ID: r.ID, Time: r.Time, Login: r.Login, NodeID: r.NodeID, NodeName: r.NodeName, Tailnet: r.Tailnet,
		Provider: r.Provider, Model: r.Model, Format: r.Format, Method: r.Method, Path: r.Path, Stream: r.Stream,
		Status: r.Status, Error: r.Error, ErrorKind: r.ErrorKind, LatencyMS: ms(r.Latency), TTFBMS: ms(r.TTFB),
		InputTokens: u.Input.Ptr(), OutputTokens: u.Output.Ptr(), CacheReadTokens: u.CacheRead.Ptr(),
		CacheWriteTokens: u.CacheWrite.Ptr(), ReasoningTokens: u.Reasoning.Ptr(),
		CostUSD: cost, CostKnown: r.CostKnown, ToolCalls: r.ToolCalls,
		RequestBytes: r.RequestBytes, ResponseBytes: r.ResponseBytes, UserAgent: r.UserAgent,
		Revision: r.Revision, Grants: r.Grants, SessionID: r.SessionID, Instance: r.Instance, HasRaws: r.HasRaws,
		Truncated: r.Truncated, RequestedModel: r.RequestedModel, Attempts: r.Attempts,
	}
}

type requestsJSON struct {
	Requests   []requestJSON `json:"requests"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

type detailJSON struct {
	Request requestJSON `json:"request"`
	// Bodies: as text when UTF-8, else base64; raw_error says why they
	// could not be read.
	RawRequest        *string `json:"raw_request,omitempty"`
	RawRequestBase64  []byte  `json:"raw_request_base64,omitempty"`
	RawResponse       *string `json:"raw_response,omitempty"`
	RawResponseBase64 []byte  `json:"raw_response_base64,omitempty"`
	RawError          string  `json:"raw_error,omitempty"`
}

type totalsJSON struct {
	Requests         int64   `json:"requests"`
	Errors           int64   `json:"errors"`
	InputTokens      int64   `json:"input_tokens"`
	OutputTokens     int64   `json:"output_tokens"`
	CacheReadTokens  int64   `json:"cache_read_tokens"`
	CacheWriteTokens int64   `json:"cache_write_tokens"`
	CostUSD          float64 `json:"cost_usd"`
	UnknownCost      int64   `json:"unknown_cost_requests"`
}

func toTotalsJSON(t store.Totals) totalsJSON {
	return totalsJSON{
		Requests: t.Requests, Errors: t.Errors, InputTokens: t.InputTokens, OutputTokens: t.OutputTokens,
		CacheReadTokens: t.CacheReadTokens, CacheWriteTokens: t.CacheWriteTokens,
		CostUSD: t.CostUSD, UnknownCost: t.UnknownCost,
	}
}

type sessionJSON struct {
	ID         string    `json:"id"`
	FromHeader bool      `json:"from_header"`
	Login      string    `json:"login"`
	Models     []string  `json:"models"`
	Providers  []string  `json:"providers"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	totalsJSON
}

type sessionsJSON struct {
	Sessions   []sessionJSON `json:"sessions"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

type aggregateJSON struct {
	Key string `json:"key"`
	totalsJSON
}

type usageJSON struct {
	By    string          `json:"by"`
	Rows  []aggregateJSON `json:"rows"`
	Total totalsJSON      `json:"total"`
}
