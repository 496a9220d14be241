package engine

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"sync"
	"time"

	"github.com/sluice-gateway/sluice/rego"
)

// decisionLog writes decisions as OPA decision-log events, one JSON object
// per line. A nil *decisionLog writes nothing.
type decisionLog struct {
	mu  sync.Mutex
	w   io.Writer
	err error // the first write error; later writes are skipped
}

// DecisionEvent is one decision-log line, in the shape of OPA's
// decision-log event (plugins/logs EventV1), so existing tooling reads it.
type DecisionEvent struct {
	DecisionID string           `json:"decision_id"`
	Revision   string           `json:"revision"`
	Path       string           `json:"path"`
	Input      Input            `json:"input"`
	Result     *DecisionResult  `json:"result,omitempty"`
	Error      string           `json:"error,omitempty"`
	Timestamp  time.Time        `json:"timestamp"`
	Metrics    map[string]int64 `json:"metrics"`
	// Custom holds what OPA's event leaves to the application: for a
	// shadow difference, the shadow policy's answer ("shadow").
	Custom map[string]any `json:"custom,omitempty"`
}

// ShadowPath is the path of the decision-log events that record a
// difference between the live policy and a shadow candidate.
const ShadowPath = rego.DecisionPath + "/shadow"

// ShadowResult is the shadow policy's side of a difference.
type ShadowResult struct {
	Revision string          `json:"revision"`
	Result   *DecisionResult `json:"result,omitempty"`
	Error    string          `json:"error,omitempty"`
}

// LogShadowDifference writes to e's decision log (when it has one) an
// event for a request the shadow policy answered otherwise than e: the
// live decision's ID, revision and result as a decision event has them,
// under path ShadowPath, with the shadow's revision and result (or
// error) in custom.shadow.
func (e *Engine) LogShadowDifference(in Input, live, shadow Decision, shadowErr error) {
	l := e.log
	if l == nil {
		return
	}
	sr := ShadowResult{Revision: shadow.Revision}
	if shadowErr != nil {
		sr.Error = shadowErr.Error()
	} else {
		sr.Result = resultOf(shadow)
	}
	ev := DecisionEvent{
		DecisionID: live.ID,
		Revision:   live.Revision,
		Path:       ShadowPath,
		Input:      in,
		Result:     resultOf(live),
		Timestamp:  e.opts.now().UTC(),
		Metrics:    map[string]int64{},
		Custom:     map[string]any{"shadow": sr},
	}
	if ev.Input.User.Tags == nil {
		ev.Input.User.Tags = []string{}
	}
	l.encode(&ev)
}

func resultOf(d Decision) *DecisionResult {
	r := &DecisionResult{Role: d.Role, Admin: d.Admin, Allow: d.Allow, Deny: nonNil(d.Reasons), Hooks: d.Hooks, ReadMetrics: d.ReadMetrics,
		MaxTokens: d.MaxTokens, ForceModel: d.ForceModel, ForceProvider: d.ForceProvider, RequiredHooks: d.RequiredHooks,
		RedactHookFields: d.RedactHookFields, FullCapture: d.FullCapture}
	if r.Hooks == nil {
		r.Hooks = []HookGrant{}
	}
	return r
}

// DecisionResult is the value of data.sluice.authz's decision rules.
type DecisionResult struct {
	Role        string      `json:"role"`
	Admin       bool        `json:"admin"`
	Allow       bool        `json:"allow"`
	Deny        []string    `json:"deny"`
	Hooks       []HookGrant `json:"hooks"`
	ReadMetrics bool        `json:"read_metrics"`
	// The merged obligations beyond hooks, when there are any.
	MaxTokens        int64    `json:"max_tokens,omitempty"`
	ForceModel       string   `json:"force_model,omitempty"`
	ForceProvider    string   `json:"force_provider,omitempty"`
	RequiredHooks    []string `json:"required_hooks,omitempty"`
	RedactHookFields []string `json:"redact_hook_fields,omitempty"`
	FullCapture      bool     `json:"full_capture,omitempty"`
}

func (l *decisionLog) write(now time.Time, rev string, in Input, d Decision, err error, start time.Time, eval time.Duration, cached bool) {
	if l == nil {
		return
	}
	ev := DecisionEvent{
		DecisionID: d.ID,
		Revision:   rev,
		Path:       rego.DecisionPath,
		Input:      in,
		Timestamp:  now.UTC(),
		Metrics:    map[string]int64{"timer_sluice_decide_ns": time.Since(start).Nanoseconds()},
	}
	if ev.Input.User.Tags == nil {
		ev.Input.User.Tags = []string{}
	}
	if err != nil {
		ev.Error = err.Error()
	} else {
		ev.Result = resultOf(d)
	}
	if cached {
		ev.Metrics["counter_sluice_decision_cache_hit"] = 1
	} else {
		ev.Metrics["timer_rego_query_eval_ns"] = eval.Nanoseconds()
	}
	l.encode(&ev)
}

// encode writes one event as a line.
func (l *decisionLog) encode(ev *DecisionEvent) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf) // Encode ends the line
	enc.SetEscapeHTML(false)
	if enc.Encode(ev) != nil {
		return // every field marshals; nothing to report
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		_, l.err = l.w.Write(buf.Bytes())
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// OpenDecisionLog opens the destination of --decision-log: "-" is standard
// output, anything else a file appended to (created with mode 0600).
func OpenDecisionLog(path string) (io.WriteCloser, error) {
	if path == "-" {
		return nopCloser{os.Stdout}, nil
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
