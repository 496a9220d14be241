package compat

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluice-gateway/sluice/compat/sse"
)

// deltaResult is what a chat collector reports after reading chunks, each
// by scanDelta where it takes the chunk (fast) or all by the general
// decode; taken counts the chunks scanDelta took.
func deltaResult(t *testing.T, chunks [][]byte, fast bool) (sum bodySummary, errs []bool, taken int) {
	t.Helper()
	st := &recState{budget: DefaultMaxRecordBytes}
	c := openAIChat{}.newCollector(st).(*chatCollector)
	for _, data := range chunks {
		if fast {
			var d deltaChunk
			if scanDelta(data, &d) {
				c.applyDelta(&d)
				errs, taken = append(errs, false), taken+1
				continue
			}
		}
		errs = append(errs, c.decodeEvent(data) != nil)
	}
	var res Result
	c.finish(&res, false)
	return bodySummary{Stop: res.StopReason, Model: res.Model, Usage: fmt.Sprintf("%+v", res.Usage),
		Output: res.Usage.Output.Value(), ToolCalls: res.ToolCalls, Failure: st.failure}, errs, taken
}

func TestScanDelta(t *testing.T) {
	head := `{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-5","choices":[{"index":0,"delta":`
	for _, c := range []struct {
		name   string
		chunks []string
		taken  int // chunks the scan reads; the others go to the decode
		calls  []ToolCall
	}{
		{"two parallel calls", []string{
			head + `{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}`,
			head + `{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"finish_reason":null}]}`,
			head + `{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"get_time","arguments":"{}"}}]},"finish_reason":null}]}`,
			head + `{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":null}]}`,
		}, 4, []ToolCall{
			{ID: "call_a", Name: "get_weather", Arguments: []byte(`{"city":"Paris"}`)},
			{ID: "call_b", Name: "get_time", Arguments: []byte(`{}`)},
		}},
		{"calls without an index continue the last", []string{
			head + `{"tool_calls":[{"id":"call_a","function":{"name":"f","arguments":"{\"a\""}}]}}]}`,
			head + `{"tool_calls":[{"function":{"arguments":":1}"}}]}}]}`,
		}, 2, []ToolCall{{ID: "call_a", Name: "f", Arguments: []byte(`{"a":1}`)}}},
		{"escaped keys and values are decoded", []string{
			head + `{"TOOL_CALLS":[{"index":0,"id":"call_\u0061","function":{"Name":"f\u00e9","arguments":"{\"x\":\"\u00e9\"}"}}]}}]}`,
		}, 1, []ToolCall{{ID: "call_a", Name: "fé", Arguments: []byte(`{"x":"é"}`)}}},
		{"a repeated member goes to the decode", []string{
			head + `{"tool_calls":[{"index":0,"id":"a","function":{"name":"f"},"function":{"arguments":"{}"}}]}}]}`,
		}, 0, []ToolCall{{ID: "a", Name: "f", Arguments: []byte(`{}`)}}},
		{"usage goes to the decode", []string{
			head + `{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{}"}}]}}],"usage":{"prompt_tokens":3}}`,
		}, 0, []ToolCall{{ID: "a", Name: "f", Arguments: []byte(`{}`)}}},
		{"a wrong type is the decode's error", []string{
			head + `{"tool_calls":[{"index":"0","id":"a","function":{"name":"f","arguments":"{}"}}]}}]}`,
		}, 0, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			chunks := make([][]byte, len(c.chunks))
			for i, s := range c.chunks {
				chunks[i] = []byte(s)
			}
			got, gotErrs, taken := deltaResult(t, chunks, true)
			want, wantErrs, _ := deltaResult(t, chunks, false)
			if taken != c.taken {
				t.Errorf("the scan read %d chunks, want %d", taken, c.taken)
			}
			if diff := cmp.Diff(want, got); diff != "" || !slicesEqual(gotErrs, wantErrs) {
				t.Errorf("scan differs from the decode (-decode +scan):\n%s errors %v, %v", diff, wantErrs, gotErrs)
			}
			if diff := cmp.Diff(c.calls, got.ToolCalls); diff != "" {
				t.Errorf("tool calls (-want +got):\n%s", diff)
			}
		})
	}
}

func slicesEqual(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzScanDelta holds the scan of tool-call chunks to the general decode:
// two chunks (split at sep, so that fragments accumulate) read by either
// must leave the same calls, finish reason, model and errors.
func FuzzScanDelta(f *testing.F) {
	for _, fx := range loadFixtures(f) {
		if fx.kind != "sse" || fx.format != OpenAIChat {
			continue
		}
		var events [][]byte
		p := sse.Parser{}
		_ = p.Feed(fx.data, func(e sse.Event) { events = append(events, bytes.Clone(e.Data)) })
		for i := 0; i+1 < len(events); i++ {
			f.Add(append(append(bytes.Clone(events[i]), '\n'), events[i+1]...))
		}
	}
	for _, s := range []string{
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{\"x"}}]}}]}` + "\n" +
			`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\":1}"}}]}}]}`,
		`{"choices":[{"index":1,"delta":{"role":"assistant","tool_calls":[{"id":"a","function":null},{"id":"b","type":null}]},"finish_reason":"tool_calls"}],"model":"m"}`,
		`{"choices":null,"model":"\u006d","created":1.5}`,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":null,"function":{"arguments":null}}]},"message":null}]}` + "\n" + `[]`,
		`{"Choices":[{"Delta":{"Tool_Calls":[{"Index":9223372036854775808}]}}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		a, b, _ := bytes.Cut(in, []byte("\n"))
		chunks := [][]byte{a, b}
		got, gotErrs, _ := deltaResult(t, chunks, true)
		want, wantErrs, _ := deltaResult(t, chunks, false)
		if diff := cmp.Diff(want, got); diff != "" || !slicesEqual(gotErrs, wantErrs) {
			t.Fatalf("%q: scan differs from the decode (-decode +scan):\n%s errors %v, %v", in, diff, wantErrs, gotErrs)
		}
	})
}
