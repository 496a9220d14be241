package hooks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy/hooks"
)

// A guardrail blocks requests that mention a password; the proxy answers
// the client with the verdict's status and message.
func ExampleDispatcher_CallPreRequest() {
	guard := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if strings.Contains(string(b), "password") {
			fmt.Fprint(w, `{"action":"block","status_code":403,"message":"no secrets, please"}`)
			return
		}
		fmt.Fprint(w, `{"action":"allow"}`)
	}))
	defer guard.Close()

	d := hooks.NewDispatcher(hooks.Options{})
	defer d.Shutdown(context.Background())

	hook := &policy.Hook{Name: "guard", URL: guard.URL, Timeout: time.Second, FailPolicy: policy.FailClosed}
	calls := []hooks.Call{{Hook: hook, Fields: []string{policy.FieldUserMessage}}}
	v, err := d.CallPreRequest(context.Background(), calls, hooks.PreRequest{
		Metadata:    hooks.Metadata{LoginName: "alice@example.com", Model: "gpt-5", Provider: "openai"},
		RequestBody: json.RawMessage(`{"model":"gpt-5","messages":[{"role":"user","content":"my password is hunter2"}]}`),
		UserMessage: "my password is hunter2",
	})
	if err != nil {
		fmt.Println("client left:", err)
		return
	}
	fmt.Println(v.Blocked, v.StatusCode, v.Message, v.DecidedBy)
	// Output: true 403 no secrets, please guard
}

// After the response, deliveries are queued and never delay the client.
func ExampleDispatcher_Enqueue() {
	got := make(chan string, 1)
	audit := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct {
			Event     string `json:"event"`
			ToolCalls []struct {
				Name string `json:"name"`
			} `json:"tool_calls"`
		}
		_ = json.NewDecoder(r.Body).Decode(&p)
		got <- fmt.Sprintf("%s %s", p.Event, p.ToolCalls[0].Name)
	}))
	defer audit.Close()

	d := hooks.NewDispatcher(hooks.Options{})
	hook := &policy.Hook{Name: "audit", URL: audit.URL, Timeout: time.Second}
	p := hooks.NewPayload(policy.EventToolCallEntireRequest, []string{policy.FieldTools},
		hooks.Metadata{LoginName: "alice@example.com"},
		hooks.Data{ToolCalls: []hooks.ToolCall{{Name: "get_weather", Params: json.RawMessage(`{"city":"Paris"}`)}}})
	d.Enqueue(hook, p)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = d.Shutdown(ctx) // drains the queue
	fmt.Println(<-got, d.Stats()["audit"].Delivered)
	// Output: tool_call_entire_request get_weather 1
}
