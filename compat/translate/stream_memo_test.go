package translate

import (
	"reflect"
	"testing"
)

// memoPairs are chunks that follow one another: a content chunk repeated
// with other texts, with other skipped strings, and changed elsewhere.
var memoPairs = [][2]string{
	{`{"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}],"obfuscation":"x"}`,
		`{"id":"c","model":"m","choices":[{"index":0,"delta":{"content":" wor\"ld\\n"},"finish_reason":null}],"obfuscation":"xyz"}`},
	{`{"id":"c","choices":[{"delta":{"content":"a"}}],"object":"o"}`,
		`{"id":"c","choices":[{"delta":{"content":"a"}}],"object":5}`},
	{`{"id":"c","choices":[{"delta":{"content":"a"}}]}`,
		`{"id":"c","choices":[{"delta":{"content":"a","x":":"}}]}`},
	{`{"id":"c","choices":[{"delta":{"content":"a"}}]}`,
		`{"id":"c","choices":[{"delta":{"content":null}}]}`},
	{`{"id":"c","choices":[{"delta":{"content":"a"}}]}`,
		"{\"id\":\"c\",\"choices\":[{\"delta\":{\"content\":\"\x01\"}}]}"},
	{`{"id":"c","choices":[{"delta":{"content":"a"}}],"o":"b"}`,
		`{"id":"c","choices":[{"delta":{"content":"a"}}],"o":"b\"}],"choices":[{"delta":{"content":"z"}}],"o":"b"}`},
	{`{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a"}}]}}]}`,
		`{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\":1}"}}]}}]}`},
	{`{"choices":[{"delta":{"reasoning_content":"r","content":"c"}},{"delta":{"refusal":"no"}}]}`,
		`{"choices":[{"delta":{"reasoning_content":"s","content":"d"}},{"delta":{"refusal":"never"}}]}`},
	{`{"choices":[{"delta":{"content":"a"}}],"usage":null}`,
		`{"choices":[{"delta":{"content":"a"}}],"usage":{"prompt_tokens":3}}`},
}

// FuzzChunkMemo holds the chat chunk reader with its memo of the last
// chunk to the reader without it, for any chunk after any other.
func FuzzChunkMemo(f *testing.F) {
	for _, p := range memoPairs {
		f.Add([]byte(p[0]), []byte(p[1]))
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
	replays := []bool{true, false, false, false, false, false, true, true, false}
	for i, p := range memoPairs {
		var c chatChunk
		if err := decodeChatChunk([]byte(p[0]), &c, true); err != nil {
			t.Fatal(err)
		}
		if got := c.memo.replay([]byte(p[1]), &c); got != replays[i] {
			t.Errorf("after %s, chunk %s replayed %v, want %v", p[0], p[1], got, replays[i])
		}
		checkChunkMemo(t, []byte(p[0]), []byte(p[1]))
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
