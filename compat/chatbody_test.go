package compat

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// chatBodyResult is what the recorder reports from a non-streamed Chat
// Completions answer, read by the one-pass scan (fast) or by the general
// decode.
func chatBodyResult(t *testing.T, data []byte, fast bool) (sum bodySummary, handled bool) {
	t.Helper()
	st := &recState{budget: DefaultMaxRecordBytes}
	c := openAIChat{}.newCollector(st).(*chatCollector)
	if fast {
		var b chatBody
		if !scanChatBody(data, &b) || !c.applyBody(&b) {
			return bodySummary{}, false
		}
	} else if err := c.decodeBody(data); err != nil {
		return bodySummary{}, false
	}
	var res Result
	c.finish(&res, false)
	return bodySummary{Stop: res.StopReason, Model: res.Model, Usage: fmt.Sprintf("%+v", res.Usage),
		Output: res.Usage.Output.Value(), ToolCalls: res.ToolCalls, Failure: st.failure}, true
}

// bodySummary is what the recorder reports from an answer body.
type bodySummary struct {
	Stop, Model, Usage string
	Output             int64
	ToolCalls          []ToolCall
	Failure            string
}

func TestScanChatBody(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		handled  bool   // by the one-pass scan
		wantStop string // when handled
		wantOut  int64
	}{
		{name: "plain answer", handled: true, wantStop: "stop", wantOut: 9,
			body: `{"id":"c","model":"gpt-5","choices":[{"index":0,"message":{"role":"assistant","content":"Hi \"there\""},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":9}}`},
		{name: "escaped finish reason and keys in another case", handled: true, wantStop: "length", wantOut: 3,
			body: `{"Choices":[{"INDEX":0,"finish_reason":"len\u0067th"}],"\u0075sage":{"completion_tokens":3},"Model":"m"}`},
		{name: "several choices: the lowest index speaks", handled: true, wantStop: "stop",
			body: `{"choices":[{"index":1,"finish_reason":"length"},{"index":0,"finish_reason":"stop"}]}`},
		{name: "a key inside a string is text", handled: true, wantStop: "stop",
			body: `{"choices":[{"index":0,"message":{"content":"\"tool_calls\": [1], \"error\": 2"},"finish_reason":"stop"}]}`},
		{name: "tool calls go to the general decode",
			body: `{"choices":[{"index":0,"message":{"tool_calls":[{"id":"t","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}`},
		{name: "an error goes to the general decode",
			body: `{"error":{"message":"boom"}}`},
		{name: "a null error is no error", handled: true, wantStop: "stop",
			body: `{"error":null,"choices":[{"index":0,"finish_reason":"stop"}]}`},
		{name: "invalid JSON is refused",
			body: `{"choices":[{"index":0,"finish_reason":"stop"}],}`},
		{name: "data after the object is refused",
			body: `{"choices":[]} {}`},
		{name: "a fractional index goes to the general decode",
			body: `{"choices":[{"index":0.5,"finish_reason":"stop"}]}`},
		{name: "two choices arrays go to the general decode",
			body: `{"choices":[{"index":0,"finish_reason":"stop"}],"choices":[{}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, handled := chatBodyResult(t, []byte(tt.body), true)
			if handled != tt.handled {
				t.Fatalf("handled by the scan: %v, want %v", handled, tt.handled)
			}
			if !handled {
				return
			}
			if got.Stop != tt.wantStop || got.Output != tt.wantOut {
				t.Errorf("stop %q, output tokens %d; want %q, %d", got.Stop, got.Output, tt.wantStop, tt.wantOut)
			}
			want, ok := chatBodyResult(t, []byte(tt.body), false)
			if !ok {
				t.Fatal("the general decode fails on a body the scan took")
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("scan differs from the general decode (-decode +scan):\n%s", diff)
			}
		})
	}
}

// FuzzScanChatBody checks the recorder's one-pass scan of a Chat
// Completions answer against the general path: a body the scan takes is
// valid JSON, and the finish reason, usage, model and tool calls it
// reports are what the full decode reports.
func FuzzScanChatBody(f *testing.F) {
	for _, s := range []string{
		`{"id":"c","model":"gpt-5","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":9,"prompt_tokens_details":{"cached_tokens":2}}}`,
		`{"Choices":[{"INDEX":2,"finish_reason":"len\u0067th"},{"index":1,"finish_reason":null}],"usage":null,"model":null,"Model":"x"}`,
		`{"choices":[{"index":0,"message":{"tool_calls":[{"id":"t"}]}}]}`,
		`{"error":{"message":"x"},"choices":null}`,
		`{"choices":[{"index":-1,"index":3,"finish_reason":"a","finish_reason":null}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, handled := chatBodyResult(t, data, true)
		if !handled {
			return
		}
		if !json.Valid(data) {
			t.Fatalf("the scan took invalid JSON %q", data)
		}
		want, ok := chatBodyResult(t, data, false)
		if !ok {
			// Valid JSON the decode refuses (a member of the wrong type
			// the scan does not read): the scan, like the skim before it,
			// reports what it read.
			return
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("%s: scan differs from the general decode (-decode +scan):\n%s", data, diff)
		}
	})
}

// FuzzSkimChunkParts holds the stream skim's byte-level reads of choices
// and usage to json.Unmarshal's.
func FuzzSkimChunkParts(f *testing.F) {
	for _, s := range []string{
		`[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]`,
		`[{"index":0,"delta":{},"finish_reason":"stop"},{"INDEX":1,"Finish_Reason":"len\u0067th"}]`,
		`[{"index":1.0}]`, `[null]`, `null`, `[{"finish_reason":""}]`, `{"index":0}`, `[{"index":99999999999999999999}]`,
		`{"prompt_tokens":9,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":2}}`,
		`{"prompt_tokens":null,"prompt_tokens_details":{"cached_tokens":1},"prompt_tokens_details":{"cache_write_tokens":2}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		var decoded []struct {
			Index        int     `json:"index"`
			FinishReason *string `json:"finish_reason"`
		}
		wantErr := json.Unmarshal(v, &decoded)
		got, ok := skimChoices(v, nil)
		if ok != (wantErr == nil) {
			t.Fatalf("skimChoices(%s) ok=%v, json.Unmarshal error %v", v, ok, wantErr)
		}
		if ok {
			if len(got) != len(decoded) {
				t.Fatalf("skimChoices(%s): %d choices, json.Unmarshal %d", v, len(got), len(decoded))
			}
			for i, d := range decoded {
				if got[i].index != d.Index || (got[i].reason == nil) != (d.FinishReason == nil) || got[i].reason != nil && *got[i].reason != *d.FinishReason {
					t.Fatalf("skimChoices(%s)[%d] = %+v, json.Unmarshal %+v", v, i, got[i], d)
				}
			}
		}
		var wantU, gotU chatUsage
		wantUErr := json.Unmarshal(v, &wantU)
		if skimUsage(v, &gotU) != (wantUErr == nil) {
			t.Fatalf("skimUsage(%s) disagrees with json.Unmarshal (error %v)", v, wantUErr)
		}
		if wantUErr == nil {
			if w, g := wantU.usage(), gotU.usage(); w != g {
				t.Fatalf("skimUsage(%s) = %+v, json.Unmarshal %+v", v, g, w)
			}
		}
	})
}
