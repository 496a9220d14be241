package translate

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/sluice-gateway/sluice/internal/jsonbytes"
)

// fastSeeds are the data lines of the stream fixtures in format from.
func fastSeeds(t testing.TB, from string) [][]byte {
	paths, _ := filepath.Glob(filepath.Join(fixtureDir, "from", from, "stream-*.sse"))
	var out [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(b, []byte("\n")) {
			if d, ok := bytes.CutPrefix(line, []byte("data: ")); ok {
				out = append(out, d)
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no %s stream fixtures", from)
	}
	return out
}

// tricky are chunks and events the fast readers must leave to
// encoding/json, or read exactly as it does.
var tricky = []string{
	`{"id":"a","ID":"b","choices":[]}`,
	`{"\u0069d":"x","model":null,"choices":null,"usage":null,"error":null}`,
	`{"choices":[{"delta":{"content":"caf\u00e9 \ud83d\ude00 \n","tool_calls":[{"index":1.0}]}}]}`,
	`{"choices":[{"delta":{"tool_calls":[{"index":99999999999999999999}]}}]}`,
	`{"choices":[null,{"delta":null,"finish_reason":null}],"Usage":{"prompt_tokens":"3"}}`,
	`{"choices":[{"delta":{"tool_calls":[null,{"function":null,"id":null}]}}]} x`,
	`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi","TEXT":"again"}}`,
	`{"type":"content_block_delta","index":0,"delta":{"type":null,"text":"\u0000 \"q\""}}`,
	`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":-1}}`,
	`{"type":"error","error":{"type":"overloaded_error","message":"busy"},"extra":[1,{"a":[true,false]}]}`,
	`{"type":"ping","ſtop":1}`,
	`{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"t","name":"f","input":null,"thinking":null}}`,
	`{"type":"content_block_start","index":0,"content_block":{"type":"image","source":{"type":"base64"}}}`,
	`  {"type":"x"}  `, `[]`, `null`, `{`, `{"a":}`, `{"a":1,}`,
	// Members the chat reader skips, malformed or of another type.
	`{"id":5,"model":["m"],"choices":[{"delta":{"content":"x"}}]}`,
	`{"object":tru,"created":1.2.3,"choices":[{"index":x,"delta":{"content":"y","role":"\q"},"logprobs":{"a":[}]}]}`,
	"{\"system_fingerprint\":\"a\x01\\\"\\\\\",\"choices\":[{\"delta\":{\"content\":\"\\\\\"}}]}",
}

// checkFastChat compares the chat chunk reader, after reading prev into
// the same chunk, with encoding/json on data, reading the chunk's id and
// model and passing over them. The reader skims: it may read a chunk that
// is not valid JSON, which encoding/json refuses (the damage being in a
// member it skips), but reads valid JSON as encoding/json does. The
// deltas the fast reader leaves undecoded are compared by their value,
// and by what appendText writes for them.
func checkFastChat(t *testing.T, prev, data []byte) {
	var want chatChunk
	wantErr := json.Unmarshal(data, &want)
	want = decodedChunk(t, want)
	// Without the header, what encoding/json reads into a chunk without
	// id and model, and the previous chunk's id and model.
	var body struct {
		Choices []chatChunkChoice `json:"choices"`
		Usage   *chatUsage        `json:"usage"`
		Error   json.RawMessage   `json:"error"`
	}
	bodyErr := json.Unmarshal(data, &body)
	valid := json.Valid(data)
	for _, header := range []bool{true, false} {
		var c chatChunk
		_ = decodeChatChunk(prev, &c, true)
		id, model := c.ID, c.Model
		err := fastChatChunk(data, &c, header)
		got := decodedChunk(t, c)
		want, wantErr := want, wantErr
		if !header {
			want = decodedChunk(t, chatChunk{ID: id, Model: model, Choices: body.Choices, Usage: body.Usage, Error: body.Error})
			wantErr = bodyErr
		}
		if err == nil && (wantErr != nil && valid || wantErr == nil && !reflect.DeepEqual(got, want)) {
			t.Fatalf("fast chat reader (header %v) on %s:\n got %+v\nwant %+v (err %v)", header, data, got, want, wantErr)
		}
		if !header {
			continue
		}
		_ = decodeChatChunk(prev, &c, true)
		err = decodeChatChunk(data, &c, true)
		if got := decodedChunk(t, c); (err != nil) != (wantErr != nil) && valid || err == nil && wantErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("chat chunk %s: got %+v, %v; want %+v, %v", data, got, err, want, wantErr)
		}
	}
}

// decodedChunk is a copy of c with every streamText decoded, after
// checking that appendText writes it as AppendString writes its value.
func decodedChunk(t *testing.T, c chatChunk) chatChunk {
	t.Helper()
	decoded := func(st streamText) streamText { return decodedText(t, st) }
	c.store = chatUsageStore{} // what Usage points to, compared through it
	c.memo = chunkMemo{}       // how it was read, not what
	if c.Choices != nil {
		c.Choices = slices.Clone(c.Choices)
	}
	for i := range c.Choices {
		d := &c.Choices[i].Delta
		d.Content, d.Refusal, d.ReasoningContent = decoded(d.Content), decoded(d.Refusal), decoded(d.ReasoningContent)
		if d.ToolCalls != nil {
			d.ToolCalls = slices.Clone(d.ToolCalls)
		}
		for j := range d.ToolCalls {
			d.ToolCalls[j].Function.Arguments = decoded(d.ToolCalls[j].Function.Arguments)
		}
	}
	return c
}

func checkFastAnth(t *testing.T, prev, data []byte) {
	var r anthEventReader
	_ = r.read(prev)
	var want anthSSEEvent
	wantErr := json.Unmarshal(data, &want)
	want = decodedEvent(t, want)
	// The reader skims: on a document that is not valid JSON it may read
	// what encoding/json refuses.
	valid := json.Valid(data)
	err := fastAnthEvent(data, &r.e, &r.delta)
	if got := decodedEvent(t, r.e); err == nil && (wantErr != nil && valid || wantErr == nil && !reflect.DeepEqual(got, want)) {
		t.Fatalf("fast Anthropic reader on %s:\n got %+v\nwant %+v (err %v)", data, got, want, wantErr)
	}
	err = r.read(data)
	if got := decodedEvent(t, r.e); (err != nil) != (wantErr != nil) && valid || err == nil && wantErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("Anthropic event %s: got %+v, %v; want %+v, %v", data, got, err, want, wantErr)
	}
}

// decodedEvent is a copy of e with its delta's streamText decoded (see
// decodedChunk).
func decodedEvent(t *testing.T, e anthSSEEvent) anthSSEEvent {
	t.Helper()
	if e.Delta != nil {
		d := *e.Delta
		d.Text, d.Thinking, d.PartialJSON = decodedText(t, d.Text), decodedText(t, d.Thinking), decodedText(t, d.PartialJSON)
		e.Delta = &d
	}
	return e
}

// decodedText is st decoded, after checking that appendText writes it
// as AppendString writes its value.
func decodedText(t *testing.T, st streamText) streamText {
	t.Helper()
	s := st.String()
	if got, want := appendText(nil, st), jsonbytes.AppendString(nil, s); !bytes.Equal(got, want) {
		t.Fatalf("delta %q (raw %q) written as %s, want %s", s, st.raw, got, want)
	}
	return streamText{s: s}
}

// checkFastChatResponse compares the fast reader of whole chat
// completions with encoding/json on data.
func checkFastChatResponse(t *testing.T, data []byte) {
	var want chatResponse
	wantErr := json.Unmarshal(data, &want)
	var r chatResponse
	err := fastChatResponse(data, &r)
	if err == nil && (wantErr != nil || !reflect.DeepEqual(r, want)) {
		t.Fatalf("fast chat response reader on %s:\n got %+v\nwant %+v (err %v)", data, r, want, wantErr)
	}
	err = decodeChatResponse(data, &r)
	if (err != nil) != (wantErr != nil) || err == nil && !reflect.DeepEqual(r, want) {
		t.Fatalf("chat response %s: got %+v, %v; want %+v, %v", data, r, err, want, wantErr)
	}
}

// chatResponses are the chat completion fixtures.
func chatResponses(t testing.TB) [][]byte {
	paths, _ := filepath.Glob(filepath.Join(fixtureDir, "*", "response-*.json"))
	paths2, _ := filepath.Glob(filepath.Join(fixtureDir, "from", "openai_chat", "response-*.json"))
	var out [][]byte
	for _, p := range append(paths, paths2...) {
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(`"chat.completion"`)) {
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		t.Fatal("no chat completion fixtures")
	}
	return out
}

var trickyResponses = []string{
	`{"id":"x","created":1.5,"choices":[]}`,
	`{"choices":[{"message":{"content":null,"refusal":null,"tool_calls":null}},null]}`,
	`{"choices":[{"message":{"content":[{"type":"text","text":"a"}],"tool_calls":[{"function":{"arguments":"{\"a\":1}"}}]}}],"usage":{"prompt_tokens":1}}`,
	`{"choices":[{"index":0,"Message":{"role":"assistant"},"message":{}}]}`,
	`{"choices":[{"message":{"content":"x","tool_calls":[{"id":1}]}}]}`,
	`{"choices":[],"usage":{"prompt_tokens":1,"Prompt_Tokens_Details":{"cached_tokens":null},"completion_tokens_details":null,"x":[]}}`,
	`{"choices":[],"usage":{"prompt_tokens_details":{"cached_tokens":2},"completion_tokens_details":{"reasoning_tokens":3,"y":1}}}`,
	`{"choices":[],"usage":{"total_tokens":2.5}}`,
	`{"choices":[],"usage":{"total_tokens":1,"total_tokens":2}}`,
	`{"choices":[],"usage":[]}`,
}

// checkStringContent compares stringContent, which reads a string
// without encoding/json, with decoding the content into a string, on
// content that is valid JSON, as a decoded member always is.
func checkStringContent(t *testing.T, content []byte) {
	if !json.Valid(content) {
		return
	}
	parts, ok := stringContent(content)
	var s string
	wantOK := isNull(content) || json.Unmarshal(content, &s) == nil
	var want []Part
	if wantOK && s != "" {
		want = []Part{{Kind: PartText, Text: s}}
	}
	if ok != wantOK || !reflect.DeepEqual(parts, want) {
		t.Fatalf("stringContent(%s) = %+v, %v; want %+v, %v", content, parts, ok, want, wantOK)
	}
}

// trickyResp are Responses events the fast reader must leave to
// encoding/json, or read exactly as it does.
var trickyResp = []string{
	`{"type":"response.output_text.delta","delta":null,"output_index":1,"Delta":"x"}`,
	`{"type":"response.output_item.added","item":{"type":"function_call","call_id":"c","NAME":"f","arguments":"","extra":[1]}}`,
	`{"type":"response.output_item.added","item":{"type":"function_call","call_id":null,"name":"f","name":"g"}}`,
	`{"type":"response.output_item.added","item":[]}`,
	`{"type":"response.completed","response":{"id":"r","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"output":[{"type":"message"}],` +
		`"usage":{"input_tokens":3,"input_tokens_details":{"cached_tokens":1},"output_tokens":2,"output_tokens_details":null,"total_tokens":5}}}`,
	`{"type":"response.failed","response":{"error":null,"incomplete_details":null,"usage":null}}`,
	`{"type":"response.failed","response":{"error":{"message":"boom"},"usage":{"input_tokens":1.5}}}`,
	`{"type":"response.created","response":{"id":"r","model":"m","status":"in_progress","created_at":1,"usage":{"output_tokens_details":{"reasoning_tokens":4,"x":null}}}}`,
	`{"type":"response.created","response":{"incomplete_details":{"reason":null}}}`,
}

// trickyGem are Gemini chunks the fast reader must leave to
// encoding/json, or read exactly as it does.
var trickyGem = []string{
	`{"candidates":[{"content":{"role":"model","parts":[{"text":"a","thought":true,"thoughtSignature":"s"},{"text":null}]},"finishReason":"STOP","index":0,"safetyRatings":[]}]}`,
	`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"a":[1,"x"]},"id":null}}]}}],"usageMetadata":{"promptTokenCount":3,"thoughtsTokenCount":null,"x":{}}}`,
	`{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"AA=="}}]}}]}`,
	`{"candidates":[{"content":null,"finishReason":"weird","index":1.5}]}`,
	`{"candidates":[null],"promptFeedback":{"blockReason":"SAFETY"},"modelVersion":"m","responseId":"r"}`,
	`{"candidates":null,"promptFeedback":null,"usageMetadata":null,"error":null}`,
	`{"error":{"code":429,"message":"quota"}}`,
	`{"candidates":[{"content":{"parts":[{"text":"a","Text":"b"}]}}]}`,
	`{"candidates":[{"content":{"parts":[{"thought":"yes"}]}}]}`,
	`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":null}}]}}]}`,
	`[{"candidates":[]}]`,
}

// checkFastGem compares the fast Gemini chunk reader with encoding/json
// on data.
func checkFastGem(t *testing.T, data []byte) {
	var want gemChunk
	wantErr := json.Unmarshal(data, &want)
	var c gemChunk
	err := fastGemChunk(data, &c)
	if err == nil && (wantErr != nil || !reflect.DeepEqual(c, want)) {
		t.Fatalf("fast Gemini reader on %s:\n got %+v\nwant %+v (err %v)", data, c, want, wantErr)
	}
	err = decodeGemChunk(data, &c)
	if (err != nil) != (wantErr != nil) || err == nil && !reflect.DeepEqual(c, want) {
		t.Fatalf("Gemini chunk %s: got %+v, %v; want %+v, %v", data, c, err, want, wantErr)
	}
}

// checkFastResp compares the fast Responses event reader with
// encoding/json on data.
func checkFastResp(t *testing.T, data []byte) {
	var want respStreamEvent
	wantErr := json.Unmarshal(data, &want)
	var e respStreamEvent
	err := fastRespEvent(data, &e)
	if err == nil && (wantErr != nil || !reflect.DeepEqual(e, want)) {
		t.Fatalf("fast Responses reader on %s:\n got %+v\nwant %+v (err %v)", data, e, want, wantErr)
	}
	err = decodeRespEvent(data, &e)
	if (err != nil) != (wantErr != nil) || err == nil && !reflect.DeepEqual(e, want) {
		t.Fatalf("Responses event %s: got %+v, %v; want %+v, %v", data, e, err, want, wantErr)
	}
}

func TestFastReadersAgreeWithEncodingJSON(t *testing.T) {
	resp := fastSeeds(t, "openai_responses")
	for _, s := range trickyResp {
		resp = append(resp, []byte(s))
	}
	for _, d := range resp {
		checkFastResp(t, d)
	}
	gem := fastSeeds(t, "gemini_generate_content")
	for _, d := range gem {
		var c gemChunk
		if err := fastGemChunk(d, &c); err != nil {
			t.Errorf("fixture chunk %s left to encoding/json: %v", d, err)
		}
	}
	for _, s := range trickyGem {
		gem = append(gem, []byte(s))
	}
	for _, d := range gem {
		checkFastGem(t, d)
	}
	// Every fixture event takes the fast path, items and responses too.
	for _, d := range fastSeeds(t, "openai_responses") {
		var re respStreamEvent
		if err := fastRespEvent(d, &re); err != nil {
			t.Errorf("fixture event %s left to encoding/json: %v", d, err)
		}
	}
	for _, c := range []string{`"hi"`, ` "caf\u00e9\n" `, `""`, `null`, `[{"type":"text","text":"a"}]`, `{}`, `1`, "\"\xff\""} {
		checkStringContent(t, []byte(c))
	}
	for _, b := range chatResponses(t) {
		checkFastChatResponse(t, b)
		var r chatResponse
		if err := fastChatResponse(b, &r); err != nil {
			t.Errorf("fixture %s left to encoding/json: %v", b, err)
		}
	}
	for _, s := range trickyResponses {
		checkFastChatResponse(t, []byte(s))
	}
	chat, anth := fastSeeds(t, "openai_chat"), fastSeeds(t, "anthropic_messages")
	for _, s := range tricky {
		chat, anth = append(chat, []byte(s)), append(anth, []byte(s))
	}
	for i, d := range chat {
		checkFastChat(t, chat[(i+len(chat)-1)%len(chat)], d)
	}
	for i, d := range anth {
		checkFastAnth(t, anth[(i+len(anth)-1)%len(anth)], d)
	}
	// The fixtures take the fast path: were they left to encoding/json,
	// this test would hold without testing the fast readers.
	var c chatChunk
	if err := fastChatChunk(chat[1], &c, true); err != nil {
		t.Errorf("fixture chunk %s left to encoding/json: %v", chat[1], err)
	}
	var r anthEventReader
	if err := fastAnthEvent(anth[2], &r.e, &r.delta); err != nil {
		t.Errorf("fixture event %s left to encoding/json: %v", anth[2], err)
	}
}

// FuzzFastDecoders holds the byte-level readers of chat chunks, Anthropic
// events (after any earlier one), whole chat completions, Responses events
// and Gemini chunks to what encoding/json reads.
func FuzzFastDecoders(f *testing.F) {
	chat, anth := fastSeeds(f, "openai_chat"), fastSeeds(f, "anthropic_messages")
	for _, s := range chat {
		f.Add(s, chat[0])
	}
	for _, s := range anth {
		f.Add(s, anth[0])
	}
	for _, s := range tricky {
		f.Add([]byte(s), chat[1])
		f.Add([]byte(s), anth[2])
	}
	for _, b := range chatResponses(f) {
		f.Add(b, chat[0])
	}
	for _, d := range fastSeeds(f, "openai_responses") {
		f.Add(d, anth[0])
	}
	for _, s := range trickyResp {
		f.Add([]byte(s), anth[0])
	}
	for _, d := range fastSeeds(f, "gemini_generate_content") {
		f.Add(d, anth[0])
	}
	for _, s := range trickyGem {
		f.Add([]byte(s), anth[0])
	}
	for _, s := range trickyResponses {
		f.Add([]byte(s), anth[0])
	}
	f.Fuzz(func(t *testing.T, data, prev []byte) {
		checkFastChat(t, prev, data)
		checkFastAnth(t, prev, data)
		checkFastChatResponse(t, data)
		checkStringContent(t, data)
		checkFastResp(t, data)
		checkFastGem(t, data)
	})
}

// TestChatReaderSkims: the chat chunk reader reads what it needs from a
// chunk whose other members are malformed, and passes over the id and
// model once the stream has them.
func TestChatReaderSkims(t *testing.T) {
	var c chatChunk
	data := []byte(`{"id":"a","object":tru,"created":1.2.3,"model":"m","choices":[{"index":x,"delta":{"content":"y\n","role":"\q"},"logprobs":{"a":[}]}]}`)
	if err := fastChatChunk(data, &c, true); err != nil {
		t.Fatal(err)
	}
	if len(c.Choices) != 1 || c.Choices[0].Delta.Content.String() != "y\n" || c.ID != "a" || c.Model != "m" {
		t.Fatalf("read %+v", c)
	}
	if err := fastChatChunk([]byte(`{"id":7,"model":"other","choices":[]}`), &c, false); err != nil || c.ID != "a" || c.Model != "m" {
		t.Fatalf("without the header: id %q model %q, %v; want the last chunk's", c.ID, c.Model, err)
	}
	// What the output holds is checked: a delta that is not a valid
	// string is not skimmed.
	if err := fastChatChunk([]byte("{\"choices\":[{\"delta\":{\"content\":\"a\x01\"}}]}"), &c, true); err == nil {
		t.Fatal("a control character in a delta was read")
	}
}
