package translate

import (
	"reflect"
	"testing"
)

// memoPairs are chunks that follow one another: a content chunk repeated
// with other texts, with other skipped strings, and changed elsewhere.
var memoPairs = []struct {
	prev, next string
	replay     bool // next is read by replaying prev
}{
	{`{"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}],"obfuscation":"x"}`,
		`{"id":"c","model":"m","choices":[{"index":0,"delta":{"content":" wor\"ld\\n"},"finish_reason":null}],"obfuscation":"xyz"}`, true}, // only the text and a skipped string differ
	{`{"id":"c","choices":[{"delta":{"content":"a"}}],"object":"o"}`,
		`{"id":"c","choices":[{"delta":{"content":"a"}}],"object":5}`, false}, // a skipped string turned into a number
	{`{"id":"c","choices":[{"delta":{"content":"a"}}]}`,
		`{"id":"c","choices":[{"delta":{"content":"a","x":":"}}]}`, false}, // a key added inside the delta
	{`{"id":"c","choices":[{"delta":{"content":"a"}}]}`,
		`{"id":"c","choices":[{"delta":{"content":null}}]}`, false}, // the text turned null
	{`{"id":"c","choices":[{"delta":{"content":"a"}}]}`,
		"{\"id\":\"c\",\"choices\":[{\"delta\":{\"content\":\"\x01\"}}]}", false}, // the text is not a valid string
	{`{"id":"c","choices":[{"delta":{"content":"a"}}],"o":"b"}`,
		`{"id":"c","choices":[{"delta":{"content":"a"}}],"o":"b\"}],"choices":[{"delta":{"content":"z"}}],"o":"b"}`, false}, // a skipped string that fakes more members
	{`{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a"}}]}}]}`,
		`{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\":1}"}}]}}]}`, true}, // tool-call arguments
	{`{"choices":[{"delta":{"reasoning_content":"r","content":"c"}},{"delta":{"refusal":"no"}}]}`,
		`{"choices":[{"delta":{"reasoning_content":"s","content":"d"}},{"delta":{"refusal":"never"}}]}`, true}, // two texts in one choice and one in another
	{`{"choices":[{"delta":{"content":"a"}}],"usage":null}`,
		`{"choices":[{"delta":{"content":"a"}}],"usage":{"prompt_tokens":3}}`, false}, // usage turned from null into an object
}

// FuzzChunkMemo holds the chat chunk reader with its memo of the last
// chunk to the reader without it, for any chunk after any other.
func FuzzChunkMemo(f *testing.F) {
	for _, p := range memoPairs {
		f.Add([]byte(p.prev), []byte(p.next))
	}
	chat := fastSeeds(f, "openai_chat")
	for i := 1; i < len(chat); i++ {
		f.Add(chat[i-1], chat[i])
	}
	f.Fuzz(func(t *testing.T, prev, data []byte) {
		checkChunkMemo(t, prev, data)
	})
}

func checkChunkMemo(t *testing.T, prev, data []byte) {
	t.Helper()
	var memo, fresh chatChunk
	_ = decodeChatChunk(prev, &memo, true)
	_ = decodeChatChunk(prev, &fresh, true)
	fresh.memo.ok = false
	gotErr := decodeChatChunk(data, &memo, false)
	wantErr := decodeChatChunk(data, &fresh, false)
	if (gotErr != nil) != (wantErr != nil) {
		t.Fatalf("after %s, chunk %s: error %v with the memo, %v without", prev, data, gotErr, wantErr)
	}
	if gotErr != nil {
		return
	}
	if got, want := decodedChunk(t, memo), decodedChunk(t, fresh); !reflect.DeepEqual(got.Choices, want.Choices) ||
		!reflect.DeepEqual(got.Usage, want.Usage) || string(got.Error) != string(want.Error) || got.ID != want.ID || got.Model != want.Model {
		t.Fatalf("after %s, chunk %s:\nwith the memo %+v\n   without it %+v", prev, data, got, want)
	}
}

// TestChunkMemoPairs: the chunks that differ from the last only in their
// texts and skipped strings are replayed, and read as without the memo.
func TestChunkMemoPairs(t *testing.T) {
	for _, p := range memoPairs {
		var c chatChunk
		if err := decodeChatChunk([]byte(p.prev), &c, true); err != nil {
			t.Fatal(err)
		}
		if got := c.memo.replay([]byte(p.next), &c); got != p.replay {
			t.Errorf("after %s, chunk %s replayed %v, want %v", p.prev, p.next, got, p.replay)
		}
		checkChunkMemo(t, []byte(p.prev), []byte(p.next))
	}
}

// TestChunkMemoStream: in a recorded OpenAI stream every content chunk
// after the second is replayed, though each carries a new obfuscation
// string.
func TestChunkMemoStream(t *testing.T) {
	chat := fastSeeds(t, "openai_chat")
	var c chatChunk
	replayed := 0
	for i, d := range chat {
		if string(d) == "[DONE]" {
			continue
		}
		if i > 0 && c.memo.replay(d, &c) {
			replayed++
			continue
		}
		if err := decodeChatChunk(d, &c, i == 0); err != nil {
			t.Fatal(err)
		}
	}
	if replayed < len(chat)/2 {
		t.Errorf("%d of %d chunks replayed", replayed, len(chat))
	}
}
