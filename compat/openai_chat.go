package compat

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"

	"github.com/sluice-gateway/sluice/internal/jsonbytes"
	"github.com/sluice-gateway/sluice/usage"
)

// openAIChat is the OpenAI Chat Completions API:
// POST /v1/chat/completions (also /chat/completions).
type openAIChat struct{}

func (openAIChat) detect(segs []string) (Route, bool) {
	if segsAre(segs, "v1", "chat", "completions") || segsAre(segs, "chat", "completions") {
		return Route{}, true
	}
	return Route{}, false
}

func (openAIChat) upstreamPath(Route) string { return "/v1/chat/completions" }
func (openAIChat) errorShape() shape         { return shapeOpenAI }
func (openAIChat) streamFraming() framing    { return framingSSE }

func (openAIChat) inspect(body []byte) (Request, error) {
	vals, model, _, err := requestMembers(body, "stream", "tools")
	if err != nil {
		return Request{}, err
	}
	stream, err := streamFlag(vals[0])
	if err != nil {
		return Request{}, err
	}
	var tools []struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
		Custom struct {
			Name string `json:"name"`
		} `json:"custom"`
	}
	if err := decodeMember(vals[1], "tools", &tools); err != nil {
		return Request{}, err
	}
	req := Request{Model: model, Stream: stream}
	for _, t := range tools {
		switch {
		case t.Function.Name != "":
			req.Tools = append(req.Tools, t.Function.Name)
		case t.Custom.Name != "":
			req.Tools = append(req.Tools, t.Custom.Name)
		case t.Type != "":
			req.Tools = append(req.Tools, t.Type)
		}
	}
	return req, nil
}

func (openAIChat) userMessage(body []byte) (string, error) {
	var v struct {
		Messages []roleContent `json:"messages"`
	}
	if err := decodeObject(body, &v); err != nil {
		return "", err
	}
	return lastUserText(v.Messages, func(c json.RawMessage) string { return textOf(c, "text") }), nil
}

func (openAIChat) newCollector(st *recState) collector {
	return &chatCollector{st: st}
}

// chatUsage is the usage object of Chat Completions.
type chatUsage struct {
	PromptTokens        *int64 `json:"prompt_tokens"`
	CompletionTokens    *int64 `json:"completion_tokens"`
	PromptTokensDetails *struct {
		CachedTokens     *int64 `json:"cached_tokens"`
		CacheWriteTokens *int64 `json:"cache_write_tokens"`
	} `json:"prompt_tokens_details"`
}

func (u *chatUsage) usage() usage.Tokens {
	if u == nil {
		return usage.Tokens{}
	}
	out := usage.Tokens{Input: usage.Optional(u.PromptTokens), Output: usage.Optional(u.CompletionTokens)}
	if d := u.PromptTokensDetails; d != nil {
		out.CacheRead = usage.Optional(d.CachedTokens)
		out.CacheWrite = usage.Optional(d.CacheWriteTokens)
	}
	return out
}

type chatToolCall struct {
	Index    *int   `json:"index"`
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string  `json:"name"`
		Arguments *string `json:"arguments"`
	} `json:"function"`
}

// chatMessage is both a non-stream message and a stream delta.
type chatMessage struct {
	Role      string         `json:"role"`
	Content   *string        `json:"content"`
	Refusal   *string        `json:"refusal"`
	Reasoning *string        `json:"reasoning_content"`
	ToolCalls []chatToolCall `json:"tool_calls"`
}

type chatResponse struct {
	ID                string          `json:"id"`
	Object            string          `json:"object"`
	Created           int64           `json:"created"`
	Model             string          `json:"model"`
	SystemFingerprint *string         `json:"system_fingerprint"`
	ServiceTier       *string         `json:"service_tier"`
	Usage             json.RawMessage `json:"usage"`
	Choices           []struct {
		Index        int          `json:"index"`
		Message      *chatMessage `json:"message"`
		Delta        *chatMessage `json:"delta"`
		FinishReason *string      `json:"finish_reason"`
	} `json:"choices"`
	Error json.RawMessage `json:"error"`
}

// chatCollector reads Chat Completions bodies and chunk streams.
type chatCollector struct {
	st      *recState
	usage   usage.Tokens
	usageJS json.RawMessage
	id      string
	created int64
	model   string
	fp      *string
	tier    *string
	// first is choice 0, the only one of almost every answer, kept
	// inline; choices holds the others, made when one appears.
	first    chatChoice
	hasFirst bool
	choices  map[int]*chatChoice
	// memo spares plainChunk's scan of chunks like the last plain one.
	memo plainMemo
}

type chatChoice struct {
	role             string
	content, refusal *strings.Builder
	reasoning        *strings.Builder
	tools            []*toolAcc
	toolByIndex      map[int]*toolAcc
	finish           string
	calls            []ToolCall // non-stream
}

func (c *chatCollector) choice(i int) *chatChoice {
	if i == 0 {
		c.hasFirst = true
		return &c.first
	}
	ch := c.choices[i]
	if ch == nil {
		ch = &chatChoice{}
		if c.st.full(len(c.choices)) {
			return ch
		}
		if c.choices == nil {
			c.choices = map[int]*chatChoice{}
		}
		c.choices[i] = ch
	}
	return ch
}

// at returns the choice of index i that indexes listed.
func (c *chatCollector) at(i int) *chatChoice {
	if i == 0 {
		return &c.first
	}
	return c.choices[i]
}

func (c *chatCollector) header(v *chatResponse) {
	if v.ID != "" {
		c.id = v.ID
	}
	if v.Created != 0 {
		c.created = v.Created
	}
	if v.Model != "" {
		c.model = v.Model
	}
	if v.SystemFingerprint != nil {
		c.fp = v.SystemFingerprint
	}
	if v.ServiceTier != nil {
		c.tier = v.ServiceTier
	}
	if len(v.Usage) > 0 && string(v.Usage) != "null" {
		var u chatUsage
		if json.Unmarshal(v.Usage, &u) == nil {
			c.usage = c.usage.Merge(u.usage())
			if c.st.keep() {
				c.usageJS = append(json.RawMessage(nil), v.Usage...)
			}
		}
	}
	if len(v.Error) > 0 && string(v.Error) != "null" {
		c.st.setFailure(errorMessage([]byte(`{"error":` + string(v.Error) + `}`)))
	}
}

func (c *chatCollector) body(data []byte) error {
	// A body is kept as received, never rebuilt, so the collector needs
	// only the finish reasons, usage and model unless there are tool calls
	// or an error: one scan validates the body and reads them.
	var b chatBody
	if scanChatBody(data, &b) && c.applyBody(&b) {
		return nil
	}
	if json.Valid(data) && c.skimChunk(data) {
		return nil
	}
	return c.decodeBody(data)
}

// decodeBody is the general path of body: the whole answer decoded.
func (c *chatCollector) decodeBody(data []byte) error {
	var v chatResponse
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	c.header(&v)
	for _, ch := range v.Choices {
		cc := c.choice(ch.Index)
		if ch.FinishReason != nil {
			cc.finish = *ch.FinishReason
		}
		if ch.Message == nil {
			continue
		}
		for _, tc := range ch.Message.ToolCalls {
			args := ""
			if tc.Function.Arguments != nil {
				args = *tc.Function.Arguments
			}
			cc.calls = append(cc.calls, ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: argsJSON(args)})
		}
	}
	return nil
}

func (c *chatCollector) event(data []byte) error {
	if !c.st.keep() {
		stop := c.memo.stop(data)
		if stop < 0 {
			if c.model == "" {
				c.model = jsonbytes.String(data, "model")
			}
			return nil
		}
		// A chunk turned away for its tool calls is one the skim would
		// refuse too, after a pass over every key: the scan reads it.
		if stop != 0 && c.skimChunk(data) {
			return nil
		}
		var d deltaChunk
		if scanDelta(data, &d) {
			c.applyDelta(&d)
			return nil
		}
	}
	return c.decodeEvent(data)
}

// decodeEvent is the general path of event: the whole chunk decoded.
func (c *chatCollector) decodeEvent(data []byte) error {
	var v chatResponse
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	c.header(&v)
	keep := c.st.keep()
	for _, ch := range v.Choices {
		cc := c.choice(ch.Index)
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			cc.finish = *ch.FinishReason
		}
		d := ch.Delta
		if d == nil {
			continue
		}
		if d.Role != "" {
			cc.role = d.Role
		}
		if keep {
			appendText(c.st, &cc.content, d.Content)
			appendText(c.st, &cc.refusal, d.Refusal)
			appendText(c.st, &cc.reasoning, d.Reasoning)
		}
		for _, tc := range d.ToolCalls {
			c.toolDelta(cc, tc)
		}
	}
	return nil
}

// toolDelta applies one streamed tool-call fragment. Fragments carry the
// call's index; a provider that omits it sends each call whole, or
// continues the last call while no new id appears.
func (c *chatCollector) toolDelta(cc *chatChoice, tc chatToolCall) {
	index, hasIndex := 0, tc.Index != nil
	if hasIndex {
		index = *tc.Index
	}
	t := c.toolFor(cc, index, hasIndex, tc.ID, tc.Function.Name)
	if t == nil {
		return
	}
	if a := tc.Function.Arguments; a != nil && c.st.grow(len(*a)) {
		t.args.WriteString(*a)
	}
}

// toolFor returns the call a fragment continues, or starts, with its id
// and name applied; nil past the recorder's bound.
func (c *chatCollector) toolFor(cc *chatChoice, index int, hasIndex bool, id, name string) *toolAcc {
	var t *toolAcc
	switch {
	case hasIndex:
		t = cc.toolByIndex[index]
		if t == nil {
			if c.st.full(len(cc.tools)) {
				return nil
			}
			t = &toolAcc{}
			if cc.toolByIndex == nil {
				cc.toolByIndex = map[int]*toolAcc{}
			}
			cc.toolByIndex[index] = t
			cc.tools = append(cc.tools, t)
		}
	case len(cc.tools) > 0 && (id == "" || id == cc.tools[len(cc.tools)-1].id):
		t = cc.tools[len(cc.tools)-1]
	default:
		if c.st.full(len(cc.tools)) {
			return nil
		}
		t = &toolAcc{}
		cc.tools = append(cc.tools, t)
	}
	if id != "" {
		t.id = id
	}
	if name != "" {
		t.name = name
	}
	return t
}

// appendText adds a streamed text fragment within the recorder's budget.
func appendText(st *recState, b **strings.Builder, s *string) {
	if s == nil {
		return
	}
	if *b == nil {
		*b = &strings.Builder{}
	}
	if st.grow(len(*s)) {
		(*b).WriteString(*s)
	}
}

// indexes appends the indexes of the choices seen to idx, in order.
func (c *chatCollector) indexes(idx []int) []int {
	if c.hasFirst {
		idx = append(idx, 0)
	}
	for i := range c.choices {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	return idx
}

func (c *chatCollector) finish(res *Result, rebuild bool) {
	res.Usage = c.usage
	res.Model = c.model
	var buf [4]int
	for n, i := range c.indexes(buf[:0]) {
		ch := c.at(i)
		if n == 0 || (res.StopReason == "" && ch.finish != "") {
			res.StopReason = ch.finish
		}
		res.ToolCalls = append(res.ToolCalls, ch.calls...)
		for _, t := range ch.tools {
			res.ToolCalls = append(res.ToolCalls, t.call())
		}
	}
	if rebuild {
		res.Body = c.rebuild()
	}
}

// rebuild writes the chat.completion a stream is equivalent to.
func (c *chatCollector) rebuild() json.RawMessage {
	type fn struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	}
	type call struct {
		ID       string `json:"id"`
		Type     string `json:"type"`
		Function fn     `json:"function"`
	}
	type message struct {
		Role        string            `json:"role"`
		Content     *string           `json:"content"`
		Reasoning   *string           `json:"reasoning_content,omitempty"`
		Refusal     *string           `json:"refusal"`
		ToolCalls   []call            `json:"tool_calls,omitempty"`
		Annotations []json.RawMessage `json:"annotations"`
	}
	type choice struct {
		Index        int     `json:"index"`
		Message      message `json:"message"`
		Logprobs     *string `json:"logprobs"`
		FinishReason *string `json:"finish_reason"`
	}
	out := struct {
		ID                string          `json:"id"`
		Object            string          `json:"object"`
		Created           int64           `json:"created"`
		Model             string          `json:"model"`
		Choices           []choice        `json:"choices"`
		Usage             json.RawMessage `json:"usage,omitempty"`
		ServiceTier       *string         `json:"service_tier,omitempty"`
		SystemFingerprint *string         `json:"system_fingerprint,omitempty"`
	}{ID: c.id, Object: "chat.completion", Created: c.created, Model: c.model,
		Usage: c.usageJS, ServiceTier: c.tier, SystemFingerprint: c.fp, Choices: []choice{}}
	var buf [4]int
	for _, i := range c.indexes(buf[:0]) {
		ch := c.at(i)
		m := message{Role: ch.role, Content: builderText(ch.content), Refusal: builderText(ch.refusal),
			Reasoning: builderText(ch.reasoning), Annotations: []json.RawMessage{}}
		if m.Role == "" {
			m.Role = "assistant"
		}
		for _, t := range ch.tools {
			m.ToolCalls = append(m.ToolCalls, call{ID: t.id, Type: "function", Function: fn{t.name, t.args.String()}})
		}
		cho := choice{Index: i, Message: m}
		if ch.finish != "" {
			cho.FinishReason = &ch.finish
		}
		out.Choices = append(out.Choices, cho)
	}
	b, _ := json.Marshal(out)
	return b
}

func builderText(b *strings.Builder) *string {
	if b == nil {
		return nil
	}
	s := b.String()
	return &s
}

// skimChunk reads a chunk (or a whole answer) without tool calls or
// error, such as the usage chunk or the one with the finish reason, by
// decoding only the members the result needs (choices' index and finish
// reason, usage), and reports whether it could. Not for chunks of a stream
// whose body is rebuilt. Keys match as encoding/json matches them, so the
// skim reads what a full decode would.
func (c *chatCollector) skimChunk(data []byte) bool {
	if !skimmable(data) {
		return false
	}
	var choicesV, usageV json.RawMessage
	_, err := jsonbytes.Members(data, func(m jsonbytes.Member) bool {
		switch m.Key.FoldIndex(skimNames) {
		case 0:
			choicesV = data[m.ValStart:m.ValEnd]
		case 1:
			usageV = data[m.ValStart:m.ValEnd]
		}
		return true
	})
	if err != nil {
		return false
	}
	var buf [2]chatFinish
	choices := buf[:0]
	if choicesV != nil && !jsonbytes.EmptyArray(choicesV) {
		var ok bool
		if choices, ok = skimChoices(choicesV, choices); !ok {
			return false
		}
	}
	var u chatUsage
	if usageV != nil && string(usageV) != "null" && !skimUsage(usageV, &u) {
		return false
	}
	for _, ch := range choices {
		cc := c.choice(ch.index)
		if ch.reason != nil && *ch.reason != "" {
			cc.finish = *ch.reason
		}
	}
	c.usage = c.usage.Merge(u.usage())
	if c.model == "" {
		c.model = jsonbytes.String(data, "model")
	}
	return true
}

// skimChoices appends to dst each choice's index and finish reason from a
// chunk's choices array, as json.Unmarshal into []struct{Index int;
// FinishReason *string} reads them. The byte-level scan reads every
// chunk of a stream without reflection; what it does not model (see
// scanChoice) goes to that decode, and ok is false where the decode
// fails.
func skimChoices(v []byte, dst []chatFinish) (choices []chatFinish, ok bool) {
	choices = dst
	end, err := jsonbytes.ValidElements(v, 0, func(es int) (int, error) {
		var ch chatFinish
		e, err := scanChoice(v, es, &ch, anyKey)
		if err != nil {
			return 0, err
		}
		choices = append(choices, ch)
		return e, nil
	})
	if err == nil && jsonbytes.SkipSpace(v, end) == len(v) {
		return choices, true
	}
	var decoded []struct {
		Index        int     `json:"index"`
		FinishReason *string `json:"finish_reason"`
	}
	if json.Unmarshal(v, &decoded) != nil {
		return nil, false
	}
	choices = dst
	for _, d := range decoded {
		choices = append(choices, chatFinish{index: d.Index, reason: d.FinishReason})
	}
	return choices, true
}

// skimUsage reads a chunk's usage object as json.Unmarshal would, by the
// byte-level scan when it can.
func skimUsage(v []byte, u *chatUsage) bool {
	var scanned chatUsage
	if end, err := scanUsage(v, 0, &scanned, anyKey); err == nil && jsonbytes.SkipSpace(v, end) == len(v) {
		*u = scanned
		return true
	}
	return json.Unmarshal(v, u) == nil
}

// anyKey lets a scan pass every key: skimmable has already turned away
// chunks with tool calls or an error.
func anyKey(jsonbytes.Key, int) bool { return true }

// skimNames are the top-level members skimChunk reads.
var skimNames = []string{"choices", "usage"}

// skimmable reports whether a chunk has no tool calls and no error, which
// skimChunk does not read.
func skimmable(data []byte) bool {
	if bytes.IndexByte(data, '\\') < 0 {
		return keysUnescaped(data, false)
	}
	return skimmableKeys(data)
}

// skimmableKeys is skimmable for any chunk, as plainChunkKeys is
// plainChunk.
func skimmableKeys(data []byte) bool {
	ok := true
	jsonbytes.EachKey(data, func(k jsonbytes.Key, colon int) bool {
		switch k.FoldIndex(plainNames) {
		case 0: // tool_calls
			ok = false
		case 1: // error
			ok = nullAfter(data, colon)
		}
		return ok
	})
	return ok
}

// plainNames are the members a chunk must not carry (tool_calls), or
// carry only as null, to hold nothing but content.
var plainNames = []string{"tool_calls", "error", "finish_reason", "usage"}

// plainChunk reports whether a chunk carries nothing but content: no tool
// calls, finish reason, usage or error. The recorder skips decoding such
// chunks unless it rebuilds the body. A key found inside a string value
// can only make it answer false, which costs a decode and nothing else.
func plainChunk(data []byte) bool {
	if bytes.IndexByte(data, '\\') < 0 {
		return keysUnescaped(data, true)
	}
	return plainChunkKeys(data)
}

// plainChunkKeys is plainChunk for any chunk: every key EachKey finds is
// unescaped and folded as encoding/json matches it.
func plainChunkKeys(data []byte) bool { return plainChunkStop(data) < 0 }

// plainChunkStop is plainChunkKeys that tells which key turned the chunk
// away, as keysStop does.
func plainChunkStop(data []byte) int {
	stop := -1
	jsonbytes.EachKey(data, func(k jsonbytes.Key, colon int) bool {
		switch name := k.FoldIndex(plainNames); name {
		case -1:
		case 0:
			stop = 0
		default:
			if !nullAfter(data, colon) {
				stop = name
			}
		}
		return stop < 0
	})
	return stop
}

// nullAfter reports whether the value after the ':' at colon is null.
func nullAfter(data []byte, colon int) bool {
	return bytes.HasPrefix(data[jsonbytes.SkipSpace(data, colon+1):], []byte("null"))
}
