package compat

import (
	"bytes"
	"cmp"
	"encoding/json"
	"github.com/sluice-gateway/sluice/usage"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// bedrockInvoke is Bedrock's InvokeModel API:
// POST /bedrock/model/{id}/invoke and /invoke-with-response-stream (also
// without the /bedrock prefix). The body is the model vendor's own format:
// Claude's Messages format for Anthropic models, Nova's messages-v1, Llama's
// prompt/generation. Streams are AWS event streams whose chunk events carry
// {"bytes": base64(vendor JSON)}.
type bedrockInvoke struct{}

// parseBedrockPath matches [bedrock/]model/{id}/{op}. Model IDs arrive
// with ':' raw or as %3A and ARNs with '/' as %2F; each segment is
// unescaped once. An ARN sent with raw slashes spans several segments.
func parseBedrockPath(segs []string) (Route, string, bool) {
	if len(segs) > 0 && segs[0] == "bedrock" {
		segs = segs[1:]
	}
	if len(segs) < 3 || segs[0] != "model" {
		return Route{}, "", false
	}
	op := segs[len(segs)-1]
	parts := make([]string, 0, len(segs)-2)
	for _, s := range segs[1 : len(segs)-1] {
		u, ok := unescapeSegment(s)
		if !ok {
			return Route{}, "", false
		}
		parts = append(parts, u)
	}
	id := strings.Join(parts, "/")
	return Route{Model: id, Method: op}, op, true
}

// bedrockUpstreamPath escapes the model ID the way the AWS SDKs do (':'
// as %3A, '/' as %2F).
func bedrockUpstreamPath(r Route) string {
	id := strings.ReplaceAll(url.PathEscape(r.Model), ":", "%3A")
	return "/model/" + id + "/" + r.Method
}

func (bedrockInvoke) detect(segs []string) (Route, bool) {
	r, op, ok := parseBedrockPath(segs)
	if !ok {
		return Route{}, false
	}
	switch op {
	case "invoke":
	case "invoke-with-response-stream":
		r.Stream = true
	default:
		return Route{}, false
	}
	return r, true
}

func (bedrockInvoke) upstreamPath(r Route) string { return bedrockUpstreamPath(r) }
func (bedrockInvoke) errorShape() shape           { return shapeBedrock }
func (bedrockInvoke) streamFraming() framing      { return framingEventStreamChunks }

func (bedrockInvoke) inspect(body []byte) (Request, error) {
	// The path names the model and says whether to stream.
	vals, model, modelID, err := requestMembers(body, "tools", "toolConfig")
	if err != nil {
		return Request{}, err
	}
	tools, err := namedTools(vals[0]) // Claude
	if err != nil {
		return Request{}, err
	}
	if tools == nil {
		if tools, err = toolSpecs(vals[1]); err != nil { // Nova
			return Request{}, err
		}
	}
	return Request{Model: cmp.Or(model, modelID), Tools: tools}, nil
}

func (bedrockInvoke) userMessage(body []byte) (string, error) {
	var v struct {
		Messages  []roleContent `json:"messages"`
		Prompt    string        `json:"prompt"`
		InputText string        `json:"inputText"`
	}
	if err := decodeObject(body, &v); err != nil {
		return "", err
	}
	if t := lastUserText(v.Messages, func(c json.RawMessage) string { return textOf(c, "text", "") }); t != "" {
		return t, nil
	}
	if v.Prompt != "" {
		return v.Prompt, nil
	}
	return v.InputText, nil
}

func (bedrockInvoke) newCollector(st *recState) collector {
	return &invokeCollector{st: st, anth: newAnthropicCollector(st), conv: newConverseCollector(st)}
}

// invocationMetrics is what Bedrock appends to the last chunk of a stream.
type invocationMetrics struct {
	InputTokenCount      *int64 `json:"inputTokenCount"`
	OutputTokenCount     *int64 `json:"outputTokenCount"`
	CacheReadTokenCount  *int64 `json:"cacheReadInputTokenCount"`
	CacheWriteTokenCount *int64 `json:"cacheWriteInputTokenCount"`
}

func (m *invocationMetrics) usage() usage.Tokens {
	cr, cw := usage.Optional(m.CacheReadTokenCount), usage.Optional(m.CacheWriteTokenCount)
	in := usage.Optional(m.InputTokenCount)
	if in.Reported() {
		in = usage.Sum(in, cr, cw)
	}
	return usage.Tokens{Input: in, Output: usage.Optional(m.OutputTokenCount), CacheRead: cr, CacheWrite: cw}
}

// invokeProbe tells the vendor formats apart and reads the fields that are
// not vendor-specific.
type invokeProbe struct {
	Type         string             `json:"type"`
	Output       json.RawMessage    `json:"output"`
	MessageStart json.RawMessage    `json:"messageStart"`
	BlockStart   json.RawMessage    `json:"contentBlockStart"`
	BlockDelta   json.RawMessage    `json:"contentBlockDelta"`
	BlockStop    json.RawMessage    `json:"contentBlockStop"`
	MessageStop  json.RawMessage    `json:"messageStop"`
	Metadata     json.RawMessage    `json:"metadata"`
	Metrics      *invocationMetrics `json:"amazon-bedrock-invocationMetrics"`
	// Llama and similar prompt/generation models.
	Generation       *string `json:"generation"`
	PromptTokens     *int64  `json:"prompt_token_count"`
	GenerationTokens *int64  `json:"generation_token_count"`
	StopReason       *string `json:"stop_reason"`
	// Message is an error body's message (a string); Claude's
	// message_start carries an object under the same name.
	Message json.RawMessage `json:"message"`
}

// errorText returns the message of an error body, or "".
func (p *invokeProbe) errorText() string {
	var s string
	if p.Type != "" || p.Output != nil || json.Unmarshal(p.Message, &s) != nil {
		return ""
	}
	return s
}

func (p *invokeProbe) converseLike() bool {
	return p.Output != nil || p.MessageStart != nil || p.BlockStart != nil || p.BlockDelta != nil ||
		p.BlockStop != nil || p.MessageStop != nil || p.Metadata != nil
}

const (
	vendorUnknown = iota
	vendorAnthropic
	vendorConverse
	vendorOther
)

// invokeCollector reads InvokeModel bodies and chunk streams of any
// vendor: Claude's through the Anthropic collector, Nova's through the
// Converse one, others by their token-count fields, with Bedrock's
// invocation metrics and token-count headers filling what the body lacks.
type invokeCollector struct {
	st      *recState
	anth    *anthropicCollector
	conv    *converseCollector
	vendor  int
	metrics usage.Tokens
	other   usage.Tokens
	stop    string
	gen     strings.Builder
}

func (c *invokeCollector) classify(p *invokeProbe) {
	if c.vendor != vendorUnknown {
		return
	}
	switch {
	case p.Type != "":
		c.vendor = vendorAnthropic
	case p.converseLike():
		c.vendor = vendorConverse
	case p.errorText() != "" && p.Generation == nil:
		// An error body: {"message": "..."}.
	default:
		c.vendor = vendorOther
	}
}

func (c *invokeCollector) body(data []byte) error {
	var p invokeProbe
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	c.classify(&p)
	if msg := p.errorText(); msg != "" {
		c.st.setFailure(msg)
	}
	switch c.vendor {
	case vendorAnthropic:
		return c.anth.body(data)
	case vendorConverse:
		return c.conv.body(data)
	}
	c.generic(&p)
	return nil
}

func (c *invokeCollector) event(data []byte) error {
	if !bytes.Contains(data, []byte(`"amazon-bedrock-invocationMetrics"`)) {
		switch c.vendor {
		case vendorAnthropic:
			return c.anth.event(data)
		case vendorConverse:
			return c.conv.event(data)
		}
	}
	var p invokeProbe
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	c.classify(&p)
	if p.Metrics != nil {
		c.metrics = c.metrics.Merge(p.Metrics.usage())
		c.st.complete = true // Bedrock appends the metrics to the last chunk
	}
	switch c.vendor {
	case vendorAnthropic:
		return c.anth.event(data)
	case vendorConverse:
		return c.conv.event(data)
	}
	c.generic(&p)
	if p.Generation != nil && c.st.keep() && c.st.grow(len(*p.Generation)) {
		c.gen.WriteString(*p.Generation)
	}
	return nil
}

// generic reads prompt/generation token counts (Llama and alike).
func (c *invokeCollector) generic(p *invokeProbe) {
	c.other = c.other.Merge(usage.Tokens{Input: usage.Optional(p.PromptTokens), Output: usage.Optional(p.GenerationTokens)})
	if p.StopReason != nil && *p.StopReason != "" {
		c.stop = *p.StopReason
	}
}

// headerUsage reads the token counts Bedrock reports in the headers of a
// non-stream InvokeModel response.
func headerUsage(h http.Header) usage.Tokens {
	get := func(name string) usage.Count {
		v := h.Get(name)
		if v == "" {
			return usage.Count{}
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return usage.Count{}
		}
		return usage.Of(n)
	}
	cr := get("X-Amzn-Bedrock-Cache-Read-Input-Token-Count")
	cw := get("X-Amzn-Bedrock-Cache-Write-Input-Token-Count")
	in := get("X-Amzn-Bedrock-Input-Token-Count")
	if in.Reported() {
		in = usage.Sum(in, cr, cw)
	}
	return usage.Tokens{Input: in, Output: get("X-Amzn-Bedrock-Output-Token-Count"), CacheRead: cr, CacheWrite: cw}
}

func (c *invokeCollector) finish(res *Result, rebuild bool) {
	switch c.vendor {
	case vendorAnthropic:
		c.anth.finish(res, rebuild)
	case vendorConverse:
		c.conv.finish(res, rebuild)
	default:
		res.Usage = c.other
		res.StopReason = c.stop
		if rebuild {
			res.Body = c.rebuildOther()
		}
	}
	res.Usage = c.metrics.Merge(res.Usage) // counts the body lacks, from the metrics
	if h := c.st.opts.Header; h != nil {
		res.Usage = headerUsage(h).Merge(res.Usage)
	}
}

// rebuildOther writes a prompt/generation model's non-stream body.
func (c *invokeCollector) rebuildOther() json.RawMessage {
	out := map[string]any{"generation": c.gen.String()}
	if n, ok := c.other.Input.Get(); ok {
		out["prompt_token_count"] = n
	}
	if n, ok := c.other.Output.Get(); ok {
		out["generation_token_count"] = n
	}
	if c.stop != "" {
		out["stop_reason"] = c.stop
	}
	b, _ := json.Marshal(out)
	return b
}
