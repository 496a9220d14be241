package translate

import (
	"bytes"
	"reflect"
	"testing"
)

// checkFastBodies holds the fast body reader and writers to the general
// path on data: the Anthropic request reader to encoding/json, and the
// chat request and Anthropic answer writers to json.Marshal, on whatever
// hub any format's reader makes of data.
func checkFastBodies(t *testing.T, data []byte) {
	t.Helper()
	want, wantErr := decodeAnthRequestJSON(data)
	if got, err := fastAnthRequest(data); err == nil && (wantErr != nil || !reflect.DeepEqual(got, want)) {
		t.Fatalf("fast Anthropic request reader on %s:\n got %+v\nwant %+v (err %v)", data, got, want, wantErr)
	}
	for _, f := range allFormats {
		tr := translators[f]
		if r, err := tr.decodeRequest(data); err == nil {
			checkChatRequestWriter(t, r)
		}
		if r, err := tr.decodeResponse(data); err == nil {
			checkAnthResponseWriter(t, r)
		}
	}
}

func checkChatRequestWriter(t *testing.T, r *Request) {
	t.Helper()
	got, ok := appendChatRequest(nil, r)
	if !ok {
		return
	}
	want, err := encodeChatRequestJSON(r)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("chat request writer on %+v:\n got %s\nwant %s (err %v)", r, got, want, err)
	}
}

func checkAnthResponseWriter(t *testing.T, r *Response) {
	t.Helper()
	got, ok := appendAnthResponse(nil, r)
	if !ok {
		return
	}
	want, err := encodeAnthResponseJSON(r)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Anthropic answer writer on %+v:\n got %s\nwant %s (err %v)", r, got, want, err)
	}
}

// trickyBodies are bodies the fast body paths must leave to the general
// one, or read and write exactly as it does.
var trickyBodies = []string{
	`{"model":"m","max_tokens":1024,"messages":[{"role":"user","content":"hello"}]}`,
	`{"model":"m","messages":[{"role":"user","content":"a"},{"role":"user","content":""},{"role":"user","content":[{"type":"text","text":"b"}]}]}`,
	`{"model":"m","messages":[{"role":"user","content":"a"},{"role":"assistant","content":[]},{"role":"user","content":"<b>&\u2028"}]}`,
	`{"model":"m","system":[{"type":"text","text":"x","cache_control":{"type":"ephemeral"}},{"type":"text","text":"y"}],"messages":[]}`,
	`{"model":"m","system":"","messages":null,"stream":true,"metadata":{"user_id":"u","other":1}}`,
	`{"Model":"m","MESSAGES":[{"ROLE":"assistant","Content":"x"}],"temperature":0.0000001,"top_p":1e21,"stop_sequences":["a","\u00e9"]}`,
	`{"model":"m","max_tokens":1.0,"messages":[]}`,
	`{"model":"m","max_tokens":99999999999999999999,"messages":[]}`,
	`{"model":"m","temperature":1e400,"messages":[]}`,
	`{"model":"m","model":"n","messages":[]}`,
	`{"m\u006fdel":"m","messages":[]}`,
	`{"model":"m","messages":[{"role":"us\u0065r","content":"x"}]}`,
	`{"model":"m","messages":[{"role":"system","content":"x"}]}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x","id":"y"}]}]}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":null},{"text":"t"}]}]}`,
	`{"model":"m","messages":[{"role":"user","content":7}]}`,
	`{"model":"m","stop_sequences":[],"stream":null,"metadata":null,"messages":[null]}`,
	`{"model":"m","stop_sequences":[null],"messages":[]}`,
	`{"model":"m","top_k":1,"messages":[]}`,
	`{"model":"m","messages":[]} x`,
	`{"model":"m","messages":[],}`,
	`null`,
	`{"model":"m","stream":truex,"messages":[]}`,
}

func TestFastBodiesAgreeWithGeneralPath(t *testing.T) {
	var bodies [][]byte
	for _, f := range allFormats {
		bodies = append(bodies, fuzzSeeds(f, "request-*.json")...)
		bodies = append(bodies, fuzzSeeds(f, "response-*.json")...)
	}
	for _, s := range trickyBodies {
		bodies = append(bodies, []byte(s))
	}
	for _, b := range bodies {
		checkFastBodies(t, b)
	}
	// The loadbench's request and answer take the fast paths: were they
	// left to the general one, this test would hold without testing them.
	r, err := fastAnthRequest([]byte(trickyBodies[0]))
	if err != nil {
		t.Fatalf("the small request is left to encoding/json: %v", err)
	}
	if _, ok := appendChatRequest(nil, r); !ok {
		t.Error("the small request is left to json.Marshal")
	}
	answer, err := openAIChat{}.decodeResponse([]byte(`{"id":"c","object":"chat.completion","created":1,"model":"gpt-5",` +
		`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello!"},"finish_reason":"stop"}],` +
		`"usage":{"prompt_tokens":9,"completion_tokens":9,"total_tokens":18}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := appendAnthResponse(nil, answer); !ok {
		t.Error("the chat answer is left to json.Marshal")
	}
}

// FuzzFastBodies holds the fast body reader and writers to the general
// path on any body.
func FuzzFastBodies(f *testing.F) {
	for _, fm := range allFormats {
		for _, b := range fuzzSeeds(fm, "request-*.json") {
			f.Add(b)
		}
		for _, b := range fuzzSeeds(fm, "response-*.json") {
			f.Add(b)
		}
	}
	for _, s := range trickyBodies {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFastBodies(t, data)
	})
}
