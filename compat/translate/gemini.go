package translate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/sluice-gateway/sluice/apiformat"
	"github.com/sluice-gateway/sluice/usage"
)

// gemini translates Gemini's generateContent, which Vertex AI's Google
// publisher models share. The model and whether the answer streams are in
// the URL, not the body: see [RequestBodyFor].
type gemini struct{}

type gemRequest struct {
	Contents          []gemContent  `json:"contents"`
	SystemInstruction *gemContent   `json:"systemInstruction,omitempty"`
	Tools             []gemTool     `json:"tools,omitempty"`
	ToolConfig        *gemToolConf  `json:"toolConfig,omitempty"`
	GenerationConfig  *gemGenConfig `json:"generationConfig,omitempty"`

	// Read only to refuse what the hub cannot carry.
	CachedContent  string          `json:"cachedContent,omitempty"`
	SafetySettings json.RawMessage `json:"safetySettings,omitempty"`
}

type gemContent struct {
	Role  string    `json:"role,omitempty"`
	Parts []gemPart `json:"parts"`
}

type gemPart struct {
	Text             *string      `json:"text,omitempty"`
	Thought          bool         `json:"thought,omitempty"`
	ThoughtSignature string       `json:"thoughtSignature,omitempty"`
	InlineData       *gemBlob     `json:"inlineData,omitempty"`
	FileData         *gemFileData `json:"fileData,omitempty"`
	FunctionCall     *gemCall     `json:"functionCall,omitempty"`
	FunctionResponse *gemResult   `json:"functionResponse,omitempty"`

	// Read only to refuse what the hub cannot carry.
	ExecutableCode      json.RawMessage `json:"executableCode,omitempty"`
	CodeExecutionResult json.RawMessage `json:"codeExecutionResult,omitempty"`
}

type gemBlob struct {
	MimeType string `json:"mimeType"`
	Data     string `json:"data"`
}

type gemFileData struct {
	MimeType string `json:"mimeType,omitempty"`
	FileURI  string `json:"fileUri"`
}

type gemCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

type gemResult struct {
	ID       string          `json:"id,omitempty"`
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

type gemTool struct {
	FunctionDeclarations []gemFunc `json:"functionDeclarations,omitempty"`

	// Read only to refuse what the hub cannot carry.
	GoogleSearch  json.RawMessage `json:"googleSearch,omitempty"`
	CodeExecution json.RawMessage `json:"codeExecution,omitempty"`
	URLContext    json.RawMessage `json:"urlContext,omitempty"`
}

type gemFunc struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Parameters is an OpenAPI schema object; ParametersJSONSchema a JSON
	// schema, which is what the hub holds and what is written.
	Parameters           json.RawMessage `json:"parameters,omitempty"`
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema,omitempty"`
}

type gemToolConf struct {
	FunctionCallingConfig *struct {
		Mode                 string   `json:"mode,omitempty"`
		AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
	} `json:"functionCallingConfig,omitempty"`
}

type gemGenConfig struct {
	MaxOutputTokens    *int64          `json:"maxOutputTokens,omitempty"`
	Temperature        *float64        `json:"temperature,omitempty"`
	TopP               *float64        `json:"topP,omitempty"`
	StopSequences      []string        `json:"stopSequences,omitempty"`
	ResponseMimeType   string          `json:"responseMimeType,omitempty"`
	ResponseSchema     json.RawMessage `json:"responseSchema,omitempty"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema,omitempty"`
	ThinkingConfig     *struct {
		ThinkingBudget  *int64 `json:"thinkingBudget,omitempty"`
		IncludeThoughts bool   `json:"includeThoughts,omitempty"`
		ThinkingLevel   string `json:"thinkingLevel,omitempty"`
	} `json:"thinkingConfig,omitempty"`

	// Read only to refuse what the hub cannot carry.
	CandidateCount *int64 `json:"candidateCount,omitempty"`
	TopK           *int64 `json:"topK,omitempty"`
}

func (gemini) decodeRequest(body []byte) (*Request, error) {
	var in gemRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("request body: %w", err)
	}
	if in.CachedContent != "" {
		return nil, unsupported(`"cachedContent"`)
	}
	r := &Request{}
	if g := in.GenerationConfig; g != nil {
		switch {
		case g.CandidateCount != nil && *g.CandidateCount > 1:
			return nil, unsupported(`"candidateCount" above 1`)
		case g.TopK != nil:
			return nil, unsupported(`"topK"`)
		}
		r.MaxTokens, r.Temperature, r.TopP, r.Stop = g.MaxOutputTokens, g.Temperature, g.TopP, g.StopSequences
		switch g.ResponseMimeType {
		case "", "text/plain":
		case "application/json":
			r.Format = &ResponseFormat{}
			switch {
			case len(g.ResponseJSONSchema) > 0:
				r.Format.Schema = g.ResponseJSONSchema
			case len(g.ResponseSchema) > 0:
				// An OpenAPI schema object: its common subset is JSON schema.
				r.Format.Schema = lowerTypes(g.ResponseSchema)
			}
		default:
			return nil, unsupported(fmt.Sprintf("a response of type %q", g.ResponseMimeType))
		}
		if tc := g.ThinkingConfig; tc != nil {
			switch {
			case tc.ThinkingLevel != "":
				r.Reasoning = &ReasoningConfig{Enabled: true, Effort: tc.ThinkingLevel, Budget: budgetFor(tc.ThinkingLevel), Summary: tc.IncludeThoughts}
			case tc.ThinkingBudget != nil && *tc.ThinkingBudget == 0:
				r.Reasoning = &ReasoningConfig{}
			case tc.ThinkingBudget != nil && *tc.ThinkingBudget > 0:
				r.Reasoning = &ReasoningConfig{Enabled: true, Budget: *tc.ThinkingBudget, Effort: effortFor(*tc.ThinkingBudget), Summary: tc.IncludeThoughts}
			case tc.IncludeThoughts:
				// A dynamic budget (-1 or none): the model decides.
				r.Reasoning = &ReasoningConfig{Enabled: true, Effort: "medium", Budget: budgetFor("medium"), Summary: true}
			}
		}
	}
	if si := in.SystemInstruction; si != nil {
		parts, err := gemParts(si.Parts, nil)
		if err != nil {
			return nil, fmt.Errorf("systemInstruction: %w", err)
		}
		for _, p := range parts {
			if p.Kind != PartText {
				return nil, unsupported("a system instruction that is not text")
			}
		}
		r.System = parts
	}
	for _, t := range in.Tools {
		if len(t.GoogleSearch) > 0 || len(t.CodeExecution) > 0 || len(t.URLContext) > 0 {
			return nil, unsupported("Gemini's built-in tools")
		}
		for _, f := range t.FunctionDeclarations {
			params := f.ParametersJSONSchema
			if len(params) == 0 && len(f.Parameters) > 0 {
				params = lowerTypes(f.Parameters)
			}
			r.Tools = append(r.Tools, Tool{Name: f.Name, Description: f.Description, Parameters: params})
		}
	}
	if tc := in.ToolConfig; tc != nil && tc.FunctionCallingConfig != nil {
		fc := tc.FunctionCallingConfig
		switch fc.Mode {
		case "", "AUTO":
			r.ToolChoice = &ToolChoice{Mode: ToolAuto}
		case "NONE":
			r.ToolChoice = &ToolChoice{Mode: ToolNone}
		case "ANY":
			switch len(fc.AllowedFunctionNames) {
			case 0:
				r.ToolChoice = &ToolChoice{Mode: ToolRequired}
			case 1:
				r.ToolChoice = &ToolChoice{Mode: ToolNamed, Name: fc.AllowedFunctionNames[0]}
			default:
				return nil, unsupported("several allowedFunctionNames")
			}
		default:
			return nil, unsupported(fmt.Sprintf("function calling mode %q", fc.Mode))
		}
	}
	calls := map[string]int{} // name -> calls not yet answered, for IDs
	for i, c := range in.Contents {
		parts, err := gemParts(c.Parts, calls)
		if err != nil {
			return nil, fmt.Errorf("contents[%d]: %w", i, err)
		}
		switch c.Role {
		case "user", "":
			r.appendParts(RoleUser, parts)
		case "model":
			r.appendParts(RoleAssistant, parts)
		default:
			return nil, fmt.Errorf("contents[%d]: %w", i, unsupported(fmt.Sprintf("a content of role %q", c.Role)))
		}
	}
	return r, nil
}

// gemCallID names a function call Gemini gave no ID: the hub's formats
// pair calls and results by ID, Gemini by name and order. calls counts
// the calls of each name so far; a result takes the ID of the oldest.
func gemCallID(name string, n int) string {
	return "call_" + name + "_" + strconv.Itoa(n)
}

// gemParts reads parts; calls (nil in a system instruction) pairs
// function calls and responses that carry no IDs.
func gemParts(in []gemPart, calls map[string]int) ([]Part, error) {
	var parts []Part
	for _, p := range in {
		switch {
		case len(p.ExecutableCode) > 0 || len(p.CodeExecutionResult) > 0:
			return nil, unsupported("code execution parts")
		case p.Text != nil && p.Thought:
			parts = append(parts, Part{Kind: PartReasoning, Reasoning: &Reasoning{Text: *p.Text, Signature: p.ThoughtSignature, Origin: apiformat.GeminiGenerateContent}})
		case p.Text != nil:
			parts = append(parts, Part{Kind: PartText, Text: *p.Text})
			if p.ThoughtSignature != "" {
				parts = append(parts, Part{Kind: PartReasoning, Reasoning: &Reasoning{Signature: p.ThoughtSignature, Origin: apiformat.GeminiGenerateContent}})
			}
		case p.InlineData != nil:
			if p.InlineData.MimeType == "" || p.InlineData.Data == "" {
				return nil, fmt.Errorf("inlineData needs mimeType and data")
			}
			parts = append(parts, Part{Kind: PartImage, Image: &Image{MediaType: p.InlineData.MimeType, Data: p.InlineData.Data}})
		case p.FileData != nil:
			parts = append(parts, Part{Kind: PartImage, Image: &Image{URL: p.FileData.FileURI, MediaType: p.FileData.MimeType}})
		case p.FunctionCall != nil:
			if calls == nil {
				return nil, unsupported("a function call in a system instruction")
			}
			args, err := argsObject(p.FunctionCall.Args)
			if err != nil {
				return nil, err
			}
			id := p.FunctionCall.ID
			if id == "" {
				id = gemCallID(p.FunctionCall.Name, calls[p.FunctionCall.Name])
				calls[p.FunctionCall.Name]++
			}
			parts = append(parts, Part{Kind: PartToolCall, ToolCall: &ToolCall{ID: id, Name: p.FunctionCall.Name, Arguments: args, Signature: p.ThoughtSignature}})
		case p.FunctionResponse != nil:
			if calls == nil {
				return nil, unsupported("a function response in a system instruction")
			}
			fr := p.FunctionResponse
			id := fr.ID
			if id == "" {
				// Results answer the calls of their name in order.
				n := calls[fr.Name+"\x00answered"]
				calls[fr.Name+"\x00answered"]++
				id = gemCallID(fr.Name, n)
			}
			res := &ToolResult{CallID: id}
			text, isErr := gemResultText(fr.Response)
			res.Parts, res.IsError = []Part{{Kind: PartText, Text: text}}, isErr
			parts = append(parts, Part{Kind: PartToolResult, ToolResult: res})
		case p.ThoughtSignature != "":
			parts = append(parts, Part{Kind: PartReasoning, Reasoning: &Reasoning{Signature: p.ThoughtSignature, Origin: apiformat.GeminiGenerateContent}})
		}
	}
	return parts, nil
}

// gemResultText reads a function response: {"output": ...} or {"error":
// ...} as Gemini's documentation writes them (a string value is the
// text, anything else its JSON), else the whole object as JSON.
func gemResultText(resp json.RawMessage) (string, bool) {
	var o map[string]json.RawMessage
	if json.Unmarshal(resp, &o) == nil && len(o) == 1 {
		for k, v := range o {
			if k != "output" && k != "result" && k != "error" {
				break
			}
			var s string
			if json.Unmarshal(v, &s) == nil {
				return s, k == "error"
			}
			var buf bytes.Buffer
			_ = json.Compact(&buf, v)
			return buf.String(), k == "error"
		}
	}
	var buf bytes.Buffer
	if json.Compact(&buf, resp) != nil {
		return string(resp), false
	}
	return buf.String(), false
}

// argsObject checks tool arguments given as a JSON value: they must be an
// object (absent or null is no arguments).
func argsObject(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 || isNull(raw) {
		return json.RawMessage("{}"), nil
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil || buf.Bytes()[0] != '{' {
		return nil, unsupported("tool call arguments that are not a JSON object")
	}
	return buf.Bytes(), nil
}

// lowerTypes turns an OpenAPI schema object of Gemini's (types in upper
// case: "OBJECT", "STRING") into JSON schema, whose types are lower case.
func lowerTypes(schema json.RawMessage) json.RawMessage {
	var v any
	if json.Unmarshal(schema, &v) != nil {
		return schema
	}
	var walk func(any)
	walk = func(x any) {
		switch t := x.(type) {
		case map[string]any:
			for k, val := range t {
				if s, ok := val.(string); ok && k == "type" {
					t[k] = toLower(s)
				} else {
					walk(val)
				}
			}
		case []any:
			for _, e := range t {
				walk(e)
			}
		}
	}
	walk(v)
	b, _ := json.Marshal(v)
	return b
}

func toLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func (gemini) encodeRequest(r *Request) ([]byte, error) {
	out := gemRequest{Contents: []gemContent{}}
	g := &gemGenConfig{MaxOutputTokens: r.MaxTokens, Temperature: r.Temperature, TopP: r.TopP, StopSequences: r.Stop}
	if f := r.Format; f != nil {
		g.ResponseMimeType = "application/json"
		g.ResponseJSONSchema = f.Schema
	}
	if rc := r.Reasoning; rc != nil {
		g.ThinkingConfig = &struct {
			ThinkingBudget  *int64 `json:"thinkingBudget,omitempty"`
			IncludeThoughts bool   `json:"includeThoughts,omitempty"`
			ThinkingLevel   string `json:"thinkingLevel,omitempty"`
		}{}
		budget := int64(0)
		if rc.Enabled {
			budget = rc.Budget
			if budget == 0 {
				budget = budgetFor(rc.Effort)
			}
			g.ThinkingConfig.IncludeThoughts = rc.Summary
		}
		g.ThinkingConfig.ThinkingBudget = &budget
	}
	if g.MaxOutputTokens != nil || g.Temperature != nil || g.TopP != nil || g.StopSequences != nil || g.ResponseMimeType != "" || g.ThinkingConfig != nil {
		out.GenerationConfig = g
	}
	if len(r.System) > 0 {
		text := joinText(r.System)
		out.SystemInstruction = &gemContent{Parts: []gemPart{{Text: &text}}}
	}
	if len(r.Tools) > 0 {
		var fs []gemFunc
		for _, t := range r.Tools {
			fs = append(fs, gemFunc{Name: t.Name, Description: t.Description, ParametersJSONSchema: t.Parameters})
		}
		out.Tools = []gemTool{{FunctionDeclarations: fs}}
	}
	if tc := r.ToolChoice; tc != nil {
		if tc.NoParallel && tc.Mode != ToolNone && len(r.Tools) > 0 {
			return nil, unsupported("turning parallel tool calls off")
		}
		conf := &gemToolConf{FunctionCallingConfig: &struct {
			Mode                 string   `json:"mode,omitempty"`
			AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
		}{}}
		fc := conf.FunctionCallingConfig
		switch tc.Mode {
		case ToolAuto:
			fc.Mode = "AUTO"
		case ToolNone:
			fc.Mode = "NONE"
		case ToolRequired:
			fc.Mode = "ANY"
		case ToolNamed:
			fc.Mode, fc.AllowedFunctionNames = "ANY", []string{tc.Name}
		}
		out.ToolConfig = conf
	}
	names := map[string]string{} // call ID -> function name
	for _, m := range r.Messages {
		role := "user"
		if m.Role == RoleAssistant {
			role = "model"
		}
		parts, err := gemPartsOf(m.Parts, names, false)
		if err != nil {
			return nil, err
		}
		if len(parts) == 0 {
			continue
		}
		if n := len(out.Contents); n > 0 && out.Contents[n-1].Role == role {
			out.Contents[n-1].Parts = append(out.Contents[n-1].Parts, parts...)
			continue
		}
		out.Contents = append(out.Contents, gemContent{Role: role, Parts: parts})
	}
	return json.Marshal(out)
}

// gemPartsOf writes hub parts as Gemini parts. names maps call IDs to
// function names, which Gemini's function responses carry instead.
func gemPartsOf(in []Part, names map[string]string, answer bool) ([]gemPart, error) {
	var out []gemPart
	for _, p := range in {
		switch p.Kind {
		case PartText:
			t := p.Text
			out = append(out, gemPart{Text: &t})
		case PartImage:
			img := p.Image
			if img.URL != "" {
				if img.MediaType == "" {
					return nil, unsupported("an image by URL (Gemini takes inline images, or files with a known type)")
				}
				out = append(out, gemPart{FileData: &gemFileData{MimeType: img.MediaType, FileURI: img.URL}})
				continue
			}
			out = append(out, gemPart{InlineData: &gemBlob{MimeType: img.MediaType, Data: img.Data}})
		case PartToolCall:
			tc := p.ToolCall
			names[tc.ID] = tc.Name
			gp := gemPart{FunctionCall: &gemCall{Name: tc.Name, Args: tc.Arguments}}
			if answer {
				gp.FunctionCall.ID = tc.ID
			}
			gp.ThoughtSignature = tc.Signature
			out = append(out, gp)
		case PartToolResult:
			tr := p.ToolResult
			for _, rp := range tr.Parts {
				if rp.Kind != PartText {
					return nil, unsupported("a tool result that is not text")
				}
			}
			name, ok := names[tr.CallID]
			if !ok {
				return nil, unsupported("a tool result for a call not in the conversation")
			}
			key := "output"
			if tr.IsError {
				key = "error"
			}
			resp, _ := json.Marshal(map[string]string{key: joinText(tr.Parts)})
			out = append(out, gemPart{FunctionResponse: &gemResult{Name: name, Response: resp}})
		case PartReasoning:
			rs := p.Reasoning
			own := rs.Origin == apiformat.GeminiGenerateContent
			switch {
			case rs.Text != "" && (answer || own):
				t := rs.Text
				gp := gemPart{Text: &t, Thought: true}
				if own {
					gp.ThoughtSignature = rs.Signature
				}
				out = append(out, gp)
			case own && rs.Signature != "" && len(out) > 0 && out[len(out)-1].ThoughtSignature == "":
				// A signature on its own belongs to the part before it.
				out[len(out)-1].ThoughtSignature = rs.Signature
			}
		}
	}
	return out, nil
}

type gemResponse struct {
	Candidates     []gemCandidate `json:"candidates"`
	PromptFeedback *struct {
		BlockReason string `json:"blockReason,omitempty"`
	} `json:"promptFeedback,omitempty"`
	UsageMetadata *gemUsage `json:"usageMetadata,omitempty"`
	ModelVersion  string    `json:"modelVersion,omitempty"`
	ResponseID    string    `json:"responseId,omitempty"`
}

type gemCandidate struct {
	Content      *gemContent `json:"content,omitempty"`
	FinishReason string      `json:"finishReason,omitempty"`
	Index        int         `json:"index"`
}

type gemUsage struct {
	PromptTokenCount        *int64 `json:"promptTokenCount,omitempty"`
	CandidatesTokenCount    *int64 `json:"candidatesTokenCount,omitempty"`
	TotalTokenCount         *int64 `json:"totalTokenCount,omitempty"`
	CachedContentTokenCount *int64 `json:"cachedContentTokenCount,omitempty"`
	ThoughtsTokenCount      *int64 `json:"thoughtsTokenCount,omitempty"`
	ToolUsePromptTokenCount *int64 `json:"toolUsePromptTokenCount,omitempty"`
}

// tokens reads usageMetadata as compat's recorder does: thoughts are
// output (and its reasoning part), tool-use prompt tokens input; absent
// counts are zeros once the prompt is counted.
func (u *gemUsage) tokens() usage.Tokens {
	var t usage.Tokens
	if u == nil {
		return t
	}
	n := func(p *int64) int64 {
		if p == nil {
			return 0
		}
		return *p
	}
	if u.PromptTokenCount != nil {
		t.Input = usage.Of(n(u.PromptTokenCount) + n(u.ToolUsePromptTokenCount))
		t.CacheRead = usage.Of(n(u.CachedContentTokenCount))
	}
	if u.PromptTokenCount != nil || u.CandidatesTokenCount != nil || u.ThoughtsTokenCount != nil {
		t.Output = usage.Of(n(u.CandidatesTokenCount) + n(u.ThoughtsTokenCount))
	}
	t.Reasoning = usage.Optional(u.ThoughtsTokenCount)
	return t
}

func gemUsageOf(t usage.Tokens) *gemUsage {
	if !t.Reported() {
		return nil
	}
	in, out := t.Input.Value(), t.Output.Value()
	u := &gemUsage{PromptTokenCount: &in, TotalTokenCount: t.Total().Ptr()}
	if u.TotalTokenCount == nil {
		zero := int64(0)
		u.TotalTokenCount = &zero
	}
	if c, ok := t.CacheRead.Get(); ok && c > 0 {
		u.CachedContentTokenCount = &c
	}
	if r, ok := t.Reasoning.Get(); ok && r > 0 {
		visible := max(out-r, 0)
		u.CandidatesTokenCount, u.ThoughtsTokenCount = &visible, &r
	} else {
		u.CandidatesTokenCount = &out
	}
	return u
}

var gemStops = map[string]StopReason{
	"STOP": StopEnd, "MAX_TOKENS": StopMaxTokens, "SAFETY": StopRefusal, "RECITATION": StopRefusal, "BLOCKLIST": StopRefusal,
	"PROHIBITED_CONTENT": StopRefusal, "SPII": StopRefusal, "IMAGE_SAFETY": StopRefusal, "LANGUAGE": StopRefusal,
}

// gemStop reads a finish reason; Gemini says STOP after function calls
// too, which the hub calls tool use.
func gemStop(reason string, parts []Part) StopReason {
	s, ok := gemStops[reason]
	if !ok {
		s = StopEnd
	}
	if s == StopEnd {
		for _, p := range parts {
			if p.Kind == PartToolCall {
				return StopToolUse
			}
		}
	}
	return s
}

func (gemini) decodeResponse(body []byte) (*Response, error) {
	var in gemResponse
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("response body: %w", err)
	}
	r := &Response{ID: in.ResponseID, Model: in.ModelVersion, Usage: in.UsageMetadata.tokens()}
	if len(in.Candidates) == 0 {
		if in.PromptFeedback != nil && in.PromptFeedback.BlockReason != "" {
			r.Stop = StopRefusal
			return r, nil
		}
		return nil, fmt.Errorf("%w: an answer without candidates", ErrUnsupported)
	}
	if len(in.Candidates) > 1 {
		return nil, fmt.Errorf("%w: an answer with %d candidates", ErrUnsupported, len(in.Candidates))
	}
	c := in.Candidates[0]
	if c.Content != nil {
		parts, err := gemParts(c.Content.Parts, map[string]int{})
		if err != nil {
			return nil, err
		}
		for _, p := range parts {
			if p.Kind == PartImage || p.Kind == PartToolResult {
				return nil, fmt.Errorf("%w: an answer with images", ErrUnsupported)
			}
		}
		r.Parts = parts
	}
	r.Stop = gemStop(c.FinishReason, r.Parts)
	return r, nil
}

func (gemini) encodeResponse(r *Response) ([]byte, error) {
	parts, err := gemPartsOf(r.Parts, map[string]string{}, true)
	if err != nil {
		return nil, err
	}
	if parts == nil {
		parts = []gemPart{}
	}
	out := gemResponse{Candidates: []gemCandidate{{Content: &gemContent{Role: "model", Parts: parts}, FinishReason: gemFinish(r.Stop)}},
		UsageMetadata: gemUsageOf(r.Usage), ModelVersion: r.Model, ResponseID: r.ID}
	return json.Marshal(out)
}

func gemFinish(s StopReason) string {
	switch s {
	case StopMaxTokens:
		return "MAX_TOKENS"
	case StopRefusal:
		return "SAFETY"
	}
	return "STOP"
}
