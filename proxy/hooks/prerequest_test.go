package hooks

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/policy"
)

const origBody = `{"model":"gpt-5","messages":[{"role":"user","content":"my SSN is 123-45-6789"}]}`

func preRequest() PreRequest {
	return PreRequest{Metadata: testMetadata, RequestBody: json.RawMessage(origBody), UserMessage: "my SSN is 123-45-6789"}
}

func TestPreRequestAllow(t *testing.T) {
	rc := newReceiver(t, answer(200, `{"action":"allow","extra":"ignored"}`))
	d, _ := newTestDispatcher(t, Options{})
	h := rc.hook("guard")
	h.APIKey = "guard-key"
	v, err := d.CallPreRequest(context.Background(), []Call{{Hook: h, Fields: policy.HookFields}}, preRequest())
	if err != nil {
		t.Fatal(err)
	}
	if v.Blocked || v.Modified || string(v.RequestBody) != origBody {
		t.Errorf("verdict = %+v, want allowed with the original body", v)
	}
	if len(v.Steps) != 1 || v.Steps[0].Hook != "guard" || v.Steps[0].Action != ActionAllow || v.Steps[0].Err != nil {
		t.Errorf("steps = %+v, want one allow by guard", v.Steps)
	}
	got := rc.requests()
	if len(got) != 1 {
		t.Fatalf("hook got %d calls, want 1", len(got))
	}
	if a := got[0].Header.Get("Authorization"); a != "Bearer guard-key" {
		t.Errorf("Authorization = %q", a)
	}
	m := got[0].payload(t)
	if string(m["event"]) != `"pre_request"` || string(m["request_body"]) != origBody || string(m["user_message"]) != `"my SSN is 123-45-6789"` {
		t.Errorf("payload = %s", got[0].Body)
	}
	for _, k := range []string{"tool_calls", "response_body", "raw_responses"} {
		if _, ok := m[k]; ok {
			t.Errorf("pre_request payload carries %s, which has no value before the response", k)
		}
	}
	if _, ok := m["metadata"]; !ok {
		t.Error("payload has no metadata")
	}
	if s := d.Stats()["guard"]; s != (Stats{Delivered: 1}) {
		t.Errorf("Stats = %+v", s)
	}
}

func TestPreRequestBlock(t *testing.T) {
	tests := []struct {
		name, answer string
		wantStatus   int
		wantMessage  string
	}{
		{"status and message", `{"action":"block","status_code":451,"message":"contains an SSN"}`, 451, "contains an SSN"},
		{"default status", `{"action":"block","message":"no"}`, 403, "no"},
		{"status outside 4xx-5xx", `{"action":"block","status_code":200,"message":"no"}`, 403, "no"},
		{"default message names the hook", `{"action":"block"}`, 403, `request blocked by pre_request hook "guard"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, answer(200, tt.answer))
			next := newReceiver(t, answer(200, `{"action":"allow"}`))
			d, _ := newTestDispatcher(t, Options{})
			h := rc.hook("guard")
			h.Preference = 10
			v, err := d.CallPreRequest(context.Background(), []Call{{Hook: next.hook("later")}, {Hook: h}}, preRequest())
			if err != nil {
				t.Fatal(err)
			}
			if !v.Blocked || v.Refused || v.StatusCode != tt.wantStatus || v.Message != tt.wantMessage || v.DecidedBy != "guard" {
				t.Errorf("verdict = %+v, want blocked by guard with %d %q", v, tt.wantStatus, tt.wantMessage)
			}
			if n := len(next.requests()); n != 0 {
				t.Errorf("a hook after the block was called %d times", n)
			}
		})
	}
}

// TestPreRequestModifyChain runs three hooks in preference order; the
// first rewrites the body and the next two see the rewrite.
func TestPreRequestModifyChain(t *testing.T) {
	const redacted = `{"model":"gpt-5","messages":[{"role":"user","content":"my SSN is [REDACTED]"}]}`
	const tagged = `{"model":"gpt-5","messages":[{"role":"user","content":"my SSN is [REDACTED]"}],"metadata":{"checked":true}}`
	var mu sync.Mutex
	var order []string
	record := func(name string, reply string) respondFunc {
		return func(n int, w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			answer(200, reply)(n, w, r)
		}
	}
	scrub := newReceiver(t, record("scrub", `{"action":"modify","request_body":`+redacted+`}`))
	alpha := newReceiver(t, record("alpha", `{"action":"allow"}`))
	tag := newReceiver(t, record("tag", `{"action":"modify","request_body":`+tagged+`}`))
	d, _ := newTestDispatcher(t, Options{})
	hs, ha, ht := scrub.hook("scrub"), alpha.hook("alpha"), tag.hook("tag")
	hs.Preference = 100 // first; alpha and tag tie at 0 and run by name
	in := preRequest()
	in.UserMessageOf = func(body json.RawMessage) string {
		var b struct {
			Messages []struct{ Content string } `json:"messages"`
		}
		_ = json.Unmarshal(body, &b)
		return b.Messages[len(b.Messages)-1].Content
	}
	fields := []string{policy.FieldRequestBody, policy.FieldUserMessage}
	v, err := d.CallPreRequest(context.Background(), []Call{{ht, fields}, {ha, fields}, {hs, fields}}, in)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(order, ",") != "scrub,alpha,tag" {
		t.Errorf("hooks ran in order %v, want scrub, alpha, tag", order)
	}
	if v.Blocked || !v.Modified || string(v.RequestBody) != tagged {
		t.Errorf("verdict = %+v, want the last rewrite", v)
	}
	for _, rc := range []*receiver{alpha, tag} {
		m := rc.requests()[0].payload(t)
		if string(m["request_body"]) != redacted || string(m["user_message"]) != `"my SSN is [REDACTED]"` {
			t.Errorf("a later hook saw %s", rc.requests()[0].Body)
		}
	}
	if len(v.Steps) != 3 || v.Steps[0].Action != ActionModify || v.Steps[1].Action != ActionAllow || v.Steps[2].Action != ActionModify {
		t.Errorf("steps = %+v", v.Steps)
	}
}

func TestPreRequestModifyWithoutUserMessageOf(t *testing.T) {
	first := newReceiver(t, answer(200, `{"action":"modify","request_body":{"model":"gpt-5","messages":[]}}`))
	second := newReceiver(t, answer(200, `{"action":"allow"}`))
	d, _ := newTestDispatcher(t, Options{})
	h1 := first.hook("a")
	fields := []string{policy.FieldUserMessage}
	if _, err := d.CallPreRequest(context.Background(), []Call{{h1, fields}, {second.hook("b"), fields}}, preRequest()); err != nil {
		t.Fatal(err)
	}
	if m := second.requests()[0].payload(t); string(m["user_message"]) != `""` {
		t.Errorf("after a rewrite the next hook got user_message %s, want it cleared rather than stale", m["user_message"])
	}
}

func TestPreRequestFailPolicy(t *testing.T) {
	failures := []struct {
		name     string
		respond  respondFunc
		dead     bool
		wantText string
	}{
		{name: "timeout", respond: hang, wantText: "timed out"},
		{name: "500", respond: answer(500, `{"action":"allow"}`), wantText: "answered HTTP 500"},
		{name: "garbage", respond: answer(200, `<html>oops`), wantText: "gave an invalid answer"},
		{name: "unknown action", respond: answer(200, `{"action":"maybe"}`), wantText: "gave an invalid answer"},
		{name: "modify without body", respond: answer(200, `{"action":"modify"}`), wantText: "gave an invalid answer"},
		{name: "dead", dead: true, wantText: "is unreachable"},
	}
	for _, f := range failures {
		for _, policyName := range []string{policy.FailOpen, policy.FailClosed, ""} {
			t.Run(f.name+"/"+cmpOr(policyName, "default"), func(t *testing.T) {
				rc := newReceiver(t, f.respond)
				next := newReceiver(t, answer(200, `{"action":"allow"}`))
				d, logs := newTestDispatcher(t, Options{})
				h := rc.hook("guard")
				h.Timeout, h.FailPolicy, h.Preference = 30*time.Millisecond, policyName, 1
				if f.dead {
					h.URL = deadURL(t)
				}
				start := time.Now()
				v, err := d.CallPreRequest(context.Background(), []Call{{Hook: h}, {Hook: next.hook("next")}}, preRequest())
				if err != nil {
					t.Fatal(err)
				}
				if took := time.Since(start); took > 2*time.Second {
					t.Errorf("took %v; the hook's 30ms timeout should bound it", took)
				}
				if len(v.Steps) == 0 || v.Steps[0].Err == nil || v.Steps[0].Hook != "guard" {
					t.Fatalf("steps = %+v, want guard's failure first", v.Steps)
				}
				if !strings.Contains(logs.String(), "pre_request hook failed") {
					t.Errorf("failure not logged:\n%s", logs)
				}
				if s := d.Stats()["guard"]; s.Failed != 1 || s.Delivered != 0 {
					t.Errorf("Stats = %+v, want 1 failed", s)
				}
				if policyName == policy.FailClosed {
					want := `request refused: pre_request hook "guard" ` + f.wantText
					if !v.Blocked || !v.Refused || v.StatusCode != 503 || v.Message != want || v.DecidedBy != "guard" {
						t.Errorf("verdict = %+v, want 503 %q", v, want)
					}
					if n := len(next.requests()); n != 0 {
						t.Errorf("next hook called %d times after a fail_closed refusal", n)
					}
					return
				}
				if v.Blocked || string(v.RequestBody) != origBody {
					t.Errorf("verdict = %+v, want allowed (fail_open)", v)
				}
				if n := len(next.requests()); n != 1 {
					t.Errorf("next hook called %d times, want 1 (the failed one is skipped)", n)
				}
			})
		}
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestPreRequestClientLeaves(t *testing.T) {
	rc := newReceiver(t, hang)
	d, _ := newTestDispatcher(t, Options{})
	h := rc.hook("guard")
	h.Timeout, h.FailPolicy = 0, policy.FailOpen
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		rc.waitFor(t, 1)
		cancel()
	}()
	_, err := d.CallPreRequest(ctx, []Call{{Hook: h}}, preRequest())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled when the client leaves", err)
	}
}

func TestPreRequestMergesGrants(t *testing.T) {
	rc := newReceiver(t, answer(200, `{"action":"allow"}`))
	d, _ := newTestDispatcher(t, Options{})
	h := rc.hook("guard")
	calls := []Call{{h, []string{policy.FieldUserMessage}}, {h, []string{policy.FieldRequestBody}}}
	if _, err := d.CallPreRequest(context.Background(), calls, preRequest()); err != nil {
		t.Fatal(err)
	}
	got := rc.requests()
	if len(got) != 1 {
		t.Fatalf("hook selected by two grants was called %d times, want once", len(got))
	}
	m := got[0].payload(t)
	if _, ok := m["request_body"]; !ok {
		t.Error("merged call lacks request_body")
	}
	if _, ok := m["user_message"]; !ok {
		t.Error("merged call lacks user_message")
	}
}

func TestParseAnswer(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Answer
		wantErr bool
	}{
		{name: "allow", in: `{"action":"allow"}`, want: Answer{Action: "allow"}},
		{name: "block", in: `{"action":"block","status_code":429,"message":"slow down"}`, want: Answer{Action: "block", StatusCode: 429, Message: "slow down"}},
		{name: "block default status", in: `{"action":"block"}`, want: Answer{Action: "block", StatusCode: 403}},
		{name: "modify", in: `{"action":"modify","request_body": {"a":1} }`, want: Answer{Action: "modify", RequestBody: json.RawMessage(`{"a":1}`)}},
		{name: "modify with array body", in: `{"action":"modify","request_body":[1]}`, wantErr: true},
		{name: "modify with null body", in: `{"action":"modify","request_body":null}`, wantErr: true},
		{name: "action is case-sensitive", in: `{"action":"ALLOW"}`, wantErr: true},
		{name: "no action", in: `{}`, wantErr: true},
		{name: "not JSON", in: `allow`, wantErr: true},
		{name: "empty", in: ``, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAnswer([]byte(tt.in))
			if tt.wantErr {
				if !errors.Is(err, ErrAnswer) {
					t.Errorf("ParseAnswer(%s) error = %v, want ErrAnswer", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Action != tt.want.Action || got.StatusCode != tt.want.StatusCode || got.Message != tt.want.Message || string(got.RequestBody) != string(tt.want.RequestBody) {
				t.Errorf("ParseAnswer(%s) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzParseAnswer checks that any answer either fails with ErrAnswer or
// yields something the proxy can act on without further checks.
func FuzzParseAnswer(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "answers", "*.json"))
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seeds in testdata/answers: %v", err)
	}
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseAnswer(b)
		if err != nil {
			if !errors.Is(err, ErrAnswer) {
				t.Fatalf("error %v does not wrap ErrAnswer", err)
			}
			return
		}
		switch a.Action {
		case ActionAllow:
		case ActionBlock:
			if a.StatusCode < 400 || a.StatusCode > 599 {
				t.Fatalf("block status %d", a.StatusCode)
			}
		case ActionModify:
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(a.RequestBody, &obj); err != nil {
				t.Fatalf("modify body %q is not an object: %v", a.RequestBody, err)
			}
		default:
			t.Fatalf("accepted action %q", a.Action)
		}
	})
}
