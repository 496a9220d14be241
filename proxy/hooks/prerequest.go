package hooks

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/sluice-gateway/sluice/policy"
)

// Actions a pre_request hook may answer.
const (
	ActionAllow  = "allow"
	ActionBlock  = "block"
	ActionModify = "modify"
)

// DefaultBlockStatus answers a block that names no status, or one outside
// 400–599.
const DefaultBlockStatus = http.StatusForbidden

// Answer is a pre_request hook's reply. Unknown fields are ignored.
type Answer struct {
	Action      string          `json:"action"`
	StatusCode  int             `json:"status_code,omitempty"`
	Message     string          `json:"message,omitempty"`
	RequestBody json.RawMessage `json:"request_body,omitempty"`
}

// ParseAnswer decodes a pre_request hook's reply and checks it: the action
// must be allow, block or modify, and a modify must carry a request_body
// that is a JSON object. A block's status is normalised to 400–599.
func ParseAnswer(b []byte) (Answer, error) {
	var a Answer
	if err := json.Unmarshal(b, &a); err != nil {
		return Answer{}, fmt.Errorf("%w: %w", ErrAnswer, err)
	}
	switch a.Action {
	case ActionAllow:
	case ActionBlock:
		if a.StatusCode < 400 || a.StatusCode > 599 {
			a.StatusCode = DefaultBlockStatus
		}
	case ActionModify:
		body := bytes.TrimSpace(a.RequestBody)
		if len(body) == 0 || body[0] != '{' {
			return Answer{}, fmt.Errorf("%w: modify needs a request_body object", ErrAnswer)
		}
		a.RequestBody = body
	default:
		return Answer{}, fmt.Errorf("%w: unknown action %q", ErrAnswer, a.Action)
	}
	return a, nil
}

// PreRequest is what pre_request hooks may see of a request.
type PreRequest struct {
	// Event is the event the hooks are called for: policy.EventPreRequest
	// when empty, or policy.EventToolCall before an MCP tool call (whose
	// RequestBody is the call and ToolCalls the one tool called).
	Event       string
	Metadata    Metadata
	ToolCalls   []ToolCall
	RequestBody json.RawMessage
	UserMessage string
	// UserMessageOf extracts the user message from a body a hook
	// replaced, so the next hook's user_message matches its request_body.
	// Without it, user_message is empty after a modification.
	UserMessageOf func(body json.RawMessage) string
}

// Step is what one pre_request hook did, for the request log.
type Step struct {
	Hook string
	// Action is the hook's answer, or "" when the call failed.
	Action string
	// Err says why the call failed; FailPolicy says what followed.
	Err        error
	FailPolicy string
	Duration   time.Duration
}

// Verdict is the outcome of a request's pre_request hooks.
type Verdict struct {
	// Blocked requests must not reach the upstream; answer the client
	// with StatusCode and Message in its API format.
	Blocked    bool
	StatusCode int
	Message    string
	// Refused marks a block caused by a fail_closed hook that failed
	// (status 503), as opposed to a hook answering block.
	Refused bool
	// DecidedBy names the hook that blocked or refused.
	DecidedBy string
	// RequestBody is the body to forward: the original, or the last
	// replacement when Modified.
	RequestBody json.RawMessage
	Modified    bool
	// Steps lists every hook called, in order.
	Steps []Step
}

// Order sorts pre_request calls the way they run: higher preference first,
// ties by hook name. Calls naming the same hook are merged and disabled
// hooks dropped first.
func Order(calls []Call) []Call {
	calls = slices.DeleteFunc(Merge(calls), func(c Call) bool { return c.Hook.Disabled })
	slices.SortStableFunc(calls, func(a, b Call) int {
		if c := cmp.Compare(b.Hook.Preference, a.Hook.Preference); c != 0 {
			return c
		}
		return cmp.Compare(a.Hook.Name, b.Hook.Name)
	})
	return calls
}

// CallPreRequest runs the request's pre_request hooks one after another in
// Order, each under its own timeout. allow continues; block stops with the
// hook's status and message; modify replaces the request body, which the
// next hook sees. A hook that fails (unreachable, timeout, non-2xx, an
// answer that is not valid JSON or names no known action) is skipped under
// fail_open and refuses the request with 503 under fail_closed.
//
// The error is non-nil only when ctx ends (the client left); the verdict
// then is to be ignored.
func (d *Dispatcher) CallPreRequest(ctx context.Context, calls []Call, in PreRequest) (Verdict, error) {
	v := Verdict{RequestBody: in.RequestBody}
	data := Data{RequestBody: in.RequestBody, UserMessage: in.UserMessage, ToolCalls: in.ToolCalls}
	event := cmp.Or(in.Event, policy.EventPreRequest)
	for _, call := range Order(calls) {
		h := call.Hook
		start := time.Now()
		answer, err := d.askPreRequest(ctx, call, event, in.Metadata, data)
		step := Step{Hook: h.Name, Action: answer.Action, Err: err, Duration: time.Since(start)}
		if err != nil && ctx.Err() != nil {
			return Verdict{}, fmt.Errorf("pre_request hook %q: %w", h.Name, context.Cause(ctx))
		}
		if err != nil {
			step.FailPolicy = cmp.Or(h.FailPolicy, policy.FailOpen)
			v.Steps = append(v.Steps, step)
			d.log.Warn(event+" hook failed",
				slog.String("hook", h.Name),
				slog.String("request_id", in.Metadata.RequestID),
				slog.String("fail_policy", step.FailPolicy),
				slog.Bool("timeout", errors.Is(err, context.DeadlineExceeded)),
				slog.String("error", err.Error()))
			if step.FailPolicy == policy.FailClosed {
				v.Blocked, v.Refused, v.DecidedBy = true, true, h.Name
				v.StatusCode = http.StatusServiceUnavailable
				v.Message = fmt.Sprintf("request refused: pre_request hook %q %s", h.Name, failureText(err))
				return v, nil
			}
			continue
		}
		v.Steps = append(v.Steps, step)
		switch answer.Action {
		case ActionBlock:
			v.Blocked, v.DecidedBy = true, h.Name
			v.StatusCode = answer.StatusCode
			v.Message = cmp.Or(answer.Message, fmt.Sprintf("request blocked by pre_request hook %q", h.Name))
			return v, nil
		case ActionModify:
			v.RequestBody, v.Modified = answer.RequestBody, true
			data.RequestBody = answer.RequestBody
			data.UserMessage = ""
			if in.UserMessageOf != nil {
				data.UserMessage = in.UserMessageOf(answer.RequestBody)
			}
		}
	}
	return v, nil
}

// askPreRequest makes one pre_request call and parses its answer.
func (d *Dispatcher) askPreRequest(ctx context.Context, call Call, event string, m Metadata, data Data) (Answer, error) {
	c := d.counters(call.Hook.Name)
	p := NewPayload(event, call.Fields, m, data)
	body, err := p.MarshalJSON()
	if err != nil {
		c.failed.Add(1)
		return Answer{}, fmt.Errorf("encoding payload: %w", err)
	}
	a := attempt{hook: call.Hook, event: p.Event, delivery: newDeliveryID(), n: 1, body: body, keep: d.maxAns}
	raw, err := post(ctx, d.client, a)
	if err != nil {
		c.failed.Add(1)
		return Answer{}, err
	}
	answer, err := ParseAnswer(raw)
	if err != nil {
		c.failed.Add(1)
		return Answer{}, err
	}
	c.delivered.Add(1)
	return answer, nil
}

// failureText says in a few words why a hook failed, for the client; the
// details stay in the log.
func failureText(err error) string {
	var se *StatusError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.As(err, &se):
		return fmt.Sprintf("answered HTTP %d", se.Code)
	case errors.Is(err, ErrAnswer):
		return "gave an invalid answer"
	default:
		return "is unreachable"
	}
}
