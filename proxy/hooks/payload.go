package hooks

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/sluice-gateway/sluice/compat"
	"github.com/sluice-gateway/sluice/policy"
)

// Metadata is the request context every hook call carries, whatever fields
// its grant lists.
type Metadata struct {
	LoginName    string `json:"login_name"`
	UserAgent    string `json:"user_agent"`
	URL          string `json:"url"`
	Model        string `json:"model"`
	Provider     string `json:"provider"`
	TailnetName  string `json:"tailnet_name"`
	StableNodeID string `json:"stable_node_id"`
	RequestID    string `json:"request_id"`
	SessionID    string `json:"session_id"`
	// Grants are the caller's custom app capabilities (config grants and
	// the tailnet policy file), by capability name; sent only to hooks
	// whose send lists "grants".
	Grants map[string][]json.RawMessage `json:"grants,omitempty"`
	// Quotas are the balances of the buckets the request is charged in,
	// by bucket name (<user> expanded); sent only to hooks whose send
	// lists "quotas", as metadata.quotas.
	Quotas map[string]QuotaBalance `json:"-"`
}

// QuotaBalance is one bucket in metadata.quotas: current balance and
// capacity in nanodollars, and the refill rate as configured ("$5.00/day",
// "" for none).
type QuotaBalance struct {
	Current  int64  `json:"current"`
	Capacity int64  `json:"capacity"`
	Rate     string `json:"rate"`
}

// ToolCall is one tool invocation of a response. On the wire it is
// {"id", "name", "params"}, the shape hook receivers of the Aperture
// protocol read.
type ToolCall struct {
	ID   string
	Name string
	// Params are the call's arguments as JSON: an object, or a JSON string
	// holding one (OpenAI's encoding), which is unwrapped on the wire.
	Params json.RawMessage
}

// Data is everything known about one request that a payload may carry.
// Request and response bodies are the user's own content and are sent as
// they are; no header of the client or the provider is part of it.
type Data struct {
	RequestBody json.RawMessage
	// UserMessage is the last user message of the request, as text.
	UserMessage string
	ToolCalls   []ToolCall
	// ResponseBody is the response reconstructed as one JSON document.
	ResponseBody json.RawMessage
	// RawResponses are the response's messages as received: the data of
	// each SSE or event-stream message, or the single JSON response.
	RawResponses []json.RawMessage
	// Truncated reports that the response fields were cut at the
	// gateway's memory bounds: ResponseBody is dropped or RawResponses and
	// ToolCalls stop early. On the wire, "truncated": true appears (only
	// then) beside the response fields.
	Truncated bool
	// EstimatedCost is what the answer cost; nil when the model has no
	// price (sent as null rather than as a misleading zero).
	EstimatedCost *EstimatedCost
}

// EstimatedCost is metadata.estimated_cost: the request's cost at the
// serving provider's prices, as the request's log row records it.
type EstimatedCost struct {
	Dollars float64 `json:"dollars"`
	// CostBasis is "<basis>/<model>": the provider's cost_basis, or its ID
	// when it has none, and the model as requested.
	CostBasis string    `json:"cost_basis"`
	Usage     CostUsage `json:"usage"`
}

// CostUsage is the token usage a cost was computed from; counts a provider
// did not report are left out.
type CostUsage struct {
	// InputTokens counts every prompt token, cached ones included.
	InputTokens  int64 `json:"input_tokens,omitempty"`
	OutputTokens int64 `json:"output_tokens,omitempty"`
	// CachedTokens are the prompt tokens read from the provider's cache.
	CachedTokens int64 `json:"cached_tokens,omitempty"`
	// CacheCreationInputTokens are the prompt tokens written to it.
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens,omitempty"`
	ReasoningTokens          int64 `json:"reasoning_tokens,omitempty"`
}

// fieldSet records which payload fields a grant asked for.
type fieldSet uint8

const (
	fieldTools fieldSet = 1 << iota
	fieldRequestBody
	fieldUserMessage
	fieldResponseBody
	fieldRawResponses
	fieldEstimatedCost
	fieldGrants
	fieldQuotas
)

// responseFields exist only once a response is complete; a pre_request
// payload never carries them (nothing has been used yet to price).
const responseFields = fieldTools | fieldResponseBody | fieldRawResponses | fieldEstimatedCost

func parseFields(fields []string) fieldSet {
	var s fieldSet
	for _, f := range fields {
		switch f {
		case policy.FieldTools:
			s |= fieldTools
		case policy.FieldRequestBody:
			s |= fieldRequestBody
		case policy.FieldUserMessage:
			s |= fieldUserMessage
		case policy.FieldResponseBody:
			s |= fieldResponseBody
		case policy.FieldRawResponses:
			s |= fieldRawResponses
		case policy.FieldEstimatedCost:
			s |= fieldEstimatedCost
		case policy.FieldGrants:
			s |= fieldGrants
		case policy.FieldQuotas:
			s |= fieldQuotas
		}
	}
	return s
}

// Payload is the JSON document POSTed to a hook: the event name, metadata,
// and only the data fields the grant lists. Build it with NewPayload.
type Payload struct {
	Event    string
	Metadata Metadata
	Data     Data
	// OnDone, when set, is called once after the delivery ended
	// (delivered, failed or dropped): the gateway then lets go of the
	// memory Data's bodies count against.
	OnDone func()
	fields fieldSet
}

func (p Payload) done() {
	if p.OnDone != nil {
		p.OnDone()
	}
}

// NewPayload selects from data the fields a hook grant lists (tools,
// request_body, user_message, response_body, raw_responses at the top
// level; estimated_cost, grants, quotas in metadata; unknown names are
// ignored). Response fields and estimated_cost are left out of pre_request
// payloads, as no response exists yet. grants holds the caller's custom
// app capabilities from the grants section and the tailnet policy file
// (an empty object when there are none, as with temp_grants); quotas holds
// the balances of the request's quota buckets (an empty object when none
// applies). Credentials in m.URL (user info, key= and
// similar query parameters) are removed. The payload keeps references to
// data's slices: the caller must not change them afterwards.
func NewPayload(event string, fields []string, m Metadata, data Data) Payload {
	set := parseFields(fields)
	switch event {
	case policy.EventPreRequest:
		set &^= responseFields
	case policy.EventToolCall:
		// Before the call: its tool_calls, no response yet.
		set &^= responseFields &^ fieldTools
	}
	m.URL = RedactURL(m.URL)
	if !slices.Contains(fields, policy.FieldGrants) {
		m.Grants = nil
	}
	return Payload{Event: event, Metadata: m, Data: data, fields: set}
}

// Has reports whether the payload carries field (a policy.Field* name).
func (p Payload) Has(field string) bool {
	f := parseFields([]string{field})
	return f != 0 && p.fields&f == f
}

// Fields lists the data fields the payload carries, in documentation order.
func (p Payload) Fields() []string {
	var out []string
	for _, f := range policy.HookFields {
		if p.Has(f) {
			out = append(out, f)
		}
	}
	return out
}

// wirePayload is the JSON shape of a Payload. Listed fields are always
// present (null or empty when there is no data); others are absent.
type wirePayload struct {
	Event        string             `json:"event"`
	Metadata     wireMetadata       `json:"metadata"`
	RequestBody  *json.RawMessage   `json:"request_body,omitempty"`
	UserMessage  *string            `json:"user_message,omitempty"`
	ToolCalls    *[]wireToolCall    `json:"tool_calls,omitempty"`
	ResponseBody *json.RawMessage   `json:"response_body,omitempty"`
	RawResponses *[]json.RawMessage `json:"raw_responses,omitempty"`
	Truncated    bool               `json:"truncated,omitempty"`
}

// wireMetadata is Metadata with the fields a grant may add to it.
type wireMetadata struct {
	Metadata
	EstimatedCost *json.RawMessage `json:"estimated_cost,omitempty"`
	Grants        *json.RawMessage `json:"grants,omitempty"`
	Quotas        *json.RawMessage `json:"quotas,omitempty"`
}

// emptyObject is metadata.quotas of a request no bucket charges and
// metadata.grants of a caller without custom capabilities.
var emptyObject = json.RawMessage(`{}`)

type wireToolCall struct {
	ID     string          `json:"id,omitempty"`
	Name   string          `json:"name"`
	Params json.RawMessage `json:"params"`
}

// MarshalJSON encodes the payload. Bodies that are not valid JSON are sent
// as JSON strings rather than failing the delivery.
func (p Payload) MarshalJSON() ([]byte, error) {
	w := wirePayload{Event: p.Event, Metadata: wireMetadata{Metadata: p.Metadata}}
	if p.fields&fieldEstimatedCost != 0 {
		cost := json.RawMessage("null")
		if c := p.Data.EstimatedCost; c != nil {
			b, err := json.Marshal(c)
			if err != nil {
				return nil, err
			}
			cost = b
		}
		w.Metadata.EstimatedCost = &cost
	}
	if p.fields&fieldGrants != 0 {
		grants := emptyObject
		if len(p.Metadata.Grants) > 0 {
			b, err := json.Marshal(p.Metadata.Grants)
			if err != nil {
				return nil, err
			}
			grants = b
		}
		w.Metadata.Grants = &grants
	}
	if p.fields&fieldQuotas != 0 {
		quotas := emptyObject
		if len(p.Metadata.Quotas) > 0 {
			b, err := json.Marshal(p.Metadata.Quotas)
			if err != nil {
				return nil, err
			}
			quotas = b
		}
		w.Metadata.Quotas = &quotas
	}
	if p.fields&fieldRequestBody != 0 {
		b := jsonOrString(p.Data.RequestBody)
		w.RequestBody = &b
	}
	if p.fields&fieldUserMessage != 0 {
		w.UserMessage = &p.Data.UserMessage
	}
	if p.fields&fieldTools != 0 {
		calls := make([]wireToolCall, len(p.Data.ToolCalls))
		for i, c := range p.Data.ToolCalls {
			calls[i] = wireToolCall{ID: c.ID, Name: c.Name, Params: toolParams(c.Params)}
		}
		w.ToolCalls = &calls
	}
	if p.fields&fieldResponseBody != 0 {
		b := jsonOrString(p.Data.ResponseBody)
		w.ResponseBody = &b
	}
	if p.fields&fieldRawResponses != 0 {
		raws := make([]json.RawMessage, len(p.Data.RawResponses))
		for i, r := range p.Data.RawResponses {
			raws[i] = jsonOrString(r)
		}
		w.RawResponses = &raws
	}
	w.Truncated = p.Data.Truncated && p.fields&responseFields != 0
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // bodies travel as written, "<" and "&" included
	if err := enc.Encode(w); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// jsonOrString returns raw when it is one valid JSON value, null when it
// is empty, and raw as a JSON string otherwise (a "[DONE]" marker, a
// truncated body).
func jsonOrString(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	if json.Valid(raw) {
		return raw
	}
	s, _ := json.Marshal(string(raw)) // a string always marshals
	return s
}

// toolParams normalises tool call arguments to the object receivers
// expect: missing becomes {}, a JSON string holding JSON is unwrapped.
func toolParams(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("{}")
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if s == "" {
				return json.RawMessage("{}")
			}
			if json.Valid([]byte(s)) {
				return json.RawMessage(s)
			}
		}
	}
	return jsonOrString(raw)
}

// RedactURL removes user info and credential query parameters from a
// request URL, so it can be shown to a hook. A URL that does not parse is
// reduced to its part before any '?'.
func RedactURL(raw string) string {
	if !strings.ContainsAny(raw, "?@") {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		before, _, _ := strings.Cut(raw, "?")
		before, _, _ = strings.Cut(before, "#")
		scheme, rest, ok := strings.Cut(before, "://")
		if !ok {
			scheme, rest = "", before
		}
		host, path, hasPath := strings.Cut(rest, "/")
		if i := strings.LastIndexByte(host, '@'); i >= 0 {
			host = host[i+1:]
		}
		rest = host
		if hasPath {
			rest += "/" + path
		}
		if ok {
			return scheme + "://" + rest
		}
		return rest
	}
	u.User = nil
	u.RawQuery = redactQuery(u.RawQuery)
	return u.String()
}

// redactQuery drops credential parameters from a raw query and keeps the
// others exactly as written. It works on the raw text so that a pair that
// does not unescape cleanly is judged by its name too, not skipped.
func redactQuery(raw string) string {
	if raw == "" {
		return ""
	}
	var b strings.Builder
	for pair := range strings.SplitSeq(raw, "&") {
		name, _, _ := strings.Cut(pair, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		if pair == "" || compat.IsCredentialParam(name) {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(pair)
	}
	return b.String()
}

// RequestMetadata fills the parts of Metadata that come from the client's
// HTTP request: its user agent and its URL (scheme, host, path and query,
// without credentials). The caller adds identity, model, provider and IDs.
// No header other than User-Agent is read.
func RequestMetadata(r *http.Request) Metadata {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	u := url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	return Metadata{UserAgent: r.UserAgent(), URL: RedactURL(u.String())}
}
