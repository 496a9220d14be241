package engine

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/usage"
)

// CELCostLimit bounds the work of one hook condition evaluation, so a
// condition over a large request body cannot stall the gateway.
const CELCostLimit = 1_000_000

// HookVars are the variables a hook grant's match and condition see, as the
// CEL variables user, event, request and response.
type HookVars struct {
	User     User
	Event    string
	Request  HookRequest
	Response HookResponse
}

// HookRequest is the request as a hook condition sees it.
type HookRequest struct {
	Provider string `cel:"provider"`
	Model    string `cel:"model"`
	// Format is the caller's API format, UpstreamFormat the provider's;
	// they differ only for a translated request.
	Format         string `cel:"format"`
	UpstreamFormat string `cel:"upstream_format"`
	Path           string `cel:"path"`
	// Body is the request body parsed as JSON (maps, lists, strings,
	// float64 numbers, booleans), or nil. For a tool_call event it is
	// the call's arguments.
	Body any `cel:"body"`
	// Connector and Tool name the connector and the tool (as the
	// connector names it) of a tool_call event; empty otherwise.
	Connector string `cel:"connector"`
	Tool      string `cel:"tool"`
}

// HookResponse is the upstream's answer as a hook condition sees it.
type HookResponse struct {
	Status int        `cel:"status"`
	Tools  []ToolCall `cel:"tools"`
	Usage  Usage      `cel:"usage"`
}

// ToolCall is one tool call of a response.
type ToolCall struct {
	ID   string `cel:"id"`
	Name string `cel:"name"`
	// Arguments are the call's arguments parsed as JSON, or nil.
	Arguments any `cel:"arguments"`
}

// Usage is a response's token usage as hook conditions see it. A count the
// upstream did not report reads as zero; Reported tells whether it
// reported any, so a condition can tell "zero" from "not reported"
// (response.usage.reported). UsageOf builds it.
type Usage struct {
	Reported         bool  `cel:"reported"`
	InputTokens      int64 `cel:"input_tokens"`
	OutputTokens     int64 `cel:"output_tokens"`
	CacheReadTokens  int64 `cel:"cache_read_tokens"`
	CacheWriteTokens int64 `cel:"cache_write_tokens"`
	ReasoningTokens  int64 `cel:"reasoning_tokens"`
	TotalTokens      int64 `cel:"total_tokens"`
}

// UsageOf returns t as hook conditions see it.
func UsageOf(t usage.Tokens) Usage {
	return Usage{
		Reported:         t.Reported(),
		InputTokens:      t.Input.Value(),
		OutputTokens:     t.Output.Value(),
		CacheReadTokens:  t.CacheRead.Value(),
		CacheWriteTokens: t.CacheWrite.Value(),
		ReasoningTokens:  t.Reasoning.Value(),
		TotalTokens:      t.Total().Value(),
	}
}

// HookGrant is a hook grant that applies to a decision's caller, provider
// and model. Fires tells, once an event happens, whether the hook is called.
type HookGrant struct {
	Hook      string   `json:"hook"`
	Fields    []string `json:"fields"`
	Events    []string `json:"events"`
	Providers []string `json:"providers"`
	Models    []string `json:"models"`
	// Grant is the grant's place in the configuration:
	// "temp_grants[i].grants[j]".
	Grant     string `json:"grant"`
	Condition string `json:"condition,omitempty"`

	prog *hookProgram
}

// Fires reports whether the grant's match (providers, models, events: AND
// across non-empty fields, OR within one, "*" globs) and its condition hold
// for vars. An error (a condition failing at run time, or exceeding
// CELCostLimit) means the hook is not called.
func (h HookGrant) Fires(vars HookVars) (bool, error) {
	if h.prog == nil {
		// A hook added by a module of its own, not compiled from a grant:
		// Rego already matched provider and model; events remain.
		return len(h.Events) == 0 || slices.Contains(h.Events, vars.Event), nil
	}
	return h.prog.eval(&vars)
}

// Wants reports whether the grant listens to event at all, which lets a
// caller skip collecting what Fires needs.
func (h HookGrant) Wants(event string) bool {
	return len(h.Events) == 0 || slices.Contains(h.Events, event)
}

// hookProgram is the compiled CEL program of one hook grant.
type hookProgram struct {
	grant     string
	condition string
	expr      string // the whole expression, for diagnostics
	prog      cel.Program
}

func (p *hookProgram) eval(vars *HookVars) (bool, error) {
	out, _, err := p.prog.Eval(activation{vars})
	if err != nil {
		return false, fmt.Errorf("%s: %w", p.grant, err)
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("%s: condition is %s, want a bool", p.grant, out.Type())
	}
	return b, nil
}

// activation hands HookVars to CEL without building a map per evaluation.
type activation struct{ v *HookVars }

func (a activation) ResolveName(name string) (any, bool) {
	switch name {
	case "user":
		return &a.v.User, true
	case "event":
		return a.v.Event, true
	case "request":
		return &a.v.Request, true
	case "response":
		return &a.v.Response, true
	}
	return nil, false
}

func (a activation) Parent() interpreter.Activation { return nil }

// newCELEnv declares the typed variables of hook conditions. Misspelled
// fields of user, request and response are errors at load time; request.body
// and tool arguments are dyn and fail only at evaluation.
func newCELEnv() (*cel.Env, error) {
	return cel.NewEnv(
		ext.NativeTypes(
			reflect.TypeFor[User](),
			reflect.TypeFor[HookRequest](),
			reflect.TypeFor[HookResponse](),
			ext.ParseStructTags(true),
		),
		ext.Strings(),
		cel.Variable("user", cel.ObjectType("engine.User")),
		cel.Variable("event", cel.StringType),
		cel.Variable("request", cel.ObjectType("engine.HookRequest")),
		cel.Variable("response", cel.ObjectType("engine.HookResponse")),
	)
}

// syntheticVars is what each program is test-run on at load.
var syntheticVars = HookVars{
	User:  User{Login: "user@example.com", NodeID: "n1", Tailnet: "example.com", Tags: []string{"tag:ci"}},
	Event: policy.EventToolCallEntireRequest,
	Request: HookRequest{Provider: "provider", Model: "model", Format: policy.FormatOpenAIChat, UpstreamFormat: policy.FormatOpenAIChat, Path: "/v1/chat/completions",
		Body: map[string]any{"model": "model", "stream": true, "messages": []any{map[string]any{"role": "user", "content": "hello"}}}},
	Response: HookResponse{Status: 200, Tools: []ToolCall{{ID: "call_1", Name: "tool", Arguments: map[string]any{}}},
		Usage: Usage{Reported: true, InputTokens: 1, OutputTokens: 1, TotalTokens: 2}},
}

// compileHooks builds one program per hook grant of cfg. Every bad condition
// is reported, each as a policy diagnostic naming
// temp_grants[i].grants[j].condition with its line:col.
func compileHooks(cfg *policy.Config) (map[string]*hookProgram, error) {
	env, err := newCELEnv()
	if err != nil {
		return nil, fmt.Errorf("hook conditions: %w", err)
	}
	progs := make(map[string]*hookProgram)
	var diags policy.Errors
	for _, set := range cfg.TempGrants {
		for _, g := range set.Grants {
			if g.Hook == nil {
				continue
			}
			p, d := compileHook(env, g)
			if d != nil {
				diags = append(diags, *d)
				continue
			}
			progs[g.Source()] = p
		}
	}
	if len(diags) > 0 {
		return nil, diags
	}
	return progs, nil
}

func compileHook(env *cel.Env, g *policy.Grant) (*hookProgram, *policy.Diagnostic) {
	h := g.Hook
	name := g.Source() + ".condition"
	// bad reports msg at line:col of the condition; CEL's own messages
	// already name the condition and show it with a caret.
	bad := func(line, col int, msg string) *policy.Diagnostic {
		pos := h.ConditionPos
		if pos.Line > 0 && line == 1 {
			pos.Col += 1 + col // past the opening quote; exact unless escapes precede
		}
		return &policy.Diagnostic{
			Code:    policy.CodeBadCondition,
			Path:    fmt.Sprintf("/temp_grants/%d/grants/%d/hook/condition", g.Set, g.Index),
			Pos:     pos,
			Message: msg,
		}
	}
	parts := matchClauses(h.Match)
	if h.Condition != "" {
		checked, iss := env.CompileSource(common.NewStringSource(h.Condition, name))
		if iss.Err() != nil {
			line, col := 0, 0
			if errs := iss.Errors(); len(errs) > 0 {
				line, col = errs[0].Location.Line(), errs[0].Location.Column()
			}
			return nil, bad(line, col, strings.TrimPrefix(iss.Err().Error(), "ERROR: "))
		}
		if t := checked.OutputType(); !t.IsExactType(types.BoolType) && !t.IsExactType(types.DynType) {
			return nil, bad(0, 0, fmt.Sprintf("%s: condition is of type %s, want bool", name, t))
		}
		parts = append(parts, "("+h.Condition+")")
	}
	expr := "true"
	if len(parts) > 0 {
		expr = strings.Join(parts, " && ")
	}
	checked, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, bad(0, 0, name+": "+iss.Err().Error())
	}
	prog, err := env.Program(checked, cel.CostLimit(CELCostLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, bad(0, 0, name+": "+err.Error())
	}
	p := &hookProgram{grant: g.Source(), condition: h.Condition, expr: expr, prog: prog}
	vars := syntheticVars
	if _, err := p.eval(&vars); err != nil && isCostError(err) {
		return nil, bad(0, 0, name+": exceeds the evaluation cost limit on a small sample request")
	}
	return p, nil
}

func isCostError(err error) bool {
	var ev interpreter.EvalCancelledError
	if errors.As(err, &ev) {
		return ev.Cause == interpreter.CostLimitExceeded
	}
	return strings.Contains(err.Error(), "cost limit exceeded")
}

// matchClauses renders a hook match as CEL: one clause per non-empty field,
// each an OR of its patterns; a field holding "*" matches everything.
func matchClauses(m policy.HookMatch) []string {
	var out []string
	if c := patternClause("request.provider", m.Providers); c != "" {
		out = append(out, c)
	}
	if c := patternClause("request.model", m.Models); c != "" {
		out = append(out, c)
	}
	if c := patternClause("event", m.Events); c != "" {
		out = append(out, c)
	}
	return out
}

func patternClause(v string, patterns []string) string {
	if len(patterns) == 0 || slices.Contains(patterns, "*") {
		return ""
	}
	var exact, alts []string
	for _, p := range patterns {
		if strings.Contains(p, "*") {
			alts = append(alts, v+".matches("+strconv.Quote(globRegexp(p))+")")
		} else {
			exact = append(exact, strconv.Quote(p))
		}
	}
	if len(exact) == 1 {
		alts = append([]string{v + " == " + exact[0]}, alts...)
	} else if len(exact) > 1 {
		alts = append([]string{v + " in [" + strings.Join(exact, ", ") + "]"}, alts...)
	}
	if len(alts) == 1 {
		return alts[0]
	}
	return "(" + strings.Join(alts, " || ") + ")"
}

// globRegexp turns a pattern where "*" stands for any run of characters into
// an anchored RE2 expression.
func globRegexp(p string) string {
	parts := strings.Split(p, "*")
	for i, s := range parts {
		parts[i] = regexp.QuoteMeta(s)
	}
	return "^" + strings.Join(parts, ".*") + "$"
}
