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
}

// DecisionResult is the value of data.sluice.authz's decision rules.
type DecisionResult struct {
	Role        string      `json:"role"`
	Admin       bool        `json:"admin"`
	Allow       bool        `json:"allow"`
	Deny        []string    `json:"deny"`
	Hooks       []HookGrant `json:"hooks"`
	ReadMetrics bool        `json:"read_metrics"`
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
		ev.Result = &DecisionResult{Role: d.Role, Admin: d.Admin, Allow: d.Allow, Deny: nonNil(d.Reasons), Hooks: d.Hooks, ReadMetrics: d.ReadMetrics}
		if ev.Result.Hooks == nil {
			ev.Result.Hooks = []HookGrant{}
		}
	}
	if cached {
		ev.Metrics["counter_sluice_decision_cache_hit"] = 1
	} else {
		ev.Metrics["timer_rego_query_eval_ns"] = eval.Nanoseconds()
	}
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
