package proxy

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/openai/openai-go/v3"

	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

// sdkRoutingConfig: the short names clients use are aliases; "primary"
// fails (503) and "backup" serves the same model.
const sdkRoutingConfig = `{
	"providers": {
		"primary": {"baseurl": "UPSTREAM/primary", "apikey": "` + providerKeyOpenAI + `", "models": ["openai/gpt-4o"]},
		"backup": {"baseurl": "UPSTREAM/backup", "apikey": "` + providerKeyOpenAI + `", "models": ["openai/gpt-4o"]},
		"anth": {"baseurl": "UPSTREAM/anth", "apikey": "sk-ant", "authorization": "x-api-key", "models": ["claude-sonnet-4-5"],
			"compatibility": {"openai_chat": false, "anthropic_messages": true}},
	},
	"model_aliases": [
		{"pattern": "^gpt-4o$", "replacement": "openai/gpt-4o"},
		{"pattern": "^sonnet$", "replacement": "claude-sonnet-4-5"},
	],
}`

// TestSDKRoutingInvisible: through the official SDKs, an alias and a
// failover look like any answer; only the answer's model name tells
// where it came from.
func TestSDKRoutingInvisible(t *testing.T) {
	gw := newGateway(t, sdkRoutingConfig, "alice@example.com")
	gw.upstream.Handle("/primary/v1/chat/completions", proxytest.Reply{Status: 503, ContentType: "application/json",
		Body: []byte(`{"error":{"message":"overloaded","type":"server_error"}}`)})
	gw.upstream.Handle("/anth/v1/messages", proxytest.Reply{ContentType: "text/event-stream", Body: proxytest.Fixture(t, "anthropic_messages/text.sse")})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("openai chat, alias and failover", func(t *testing.T) {
		gw.upstream.Handle("/backup/v1/chat/completions", proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})
		oc := openaiClient(gw)
		res, err := oc.Chat.Completions.New(ctx, chatParams("gpt-4o", false))
		if err != nil {
			t.Fatalf("the SDK saw an error: %v", err)
		}
		if res.Choices[0].Message.Content != "hello" || res.Model != "gpt-5-2025-08-07" {
			t.Errorf("answer %q from model %q, want the backup's", res.Choices[0].Message.Content, res.Model)
		}
	})
	t.Run("openai chat stream, alias and failover", func(t *testing.T) {
		gw.upstream.Handle("/backup/v1/chat/completions", proxytest.Reply{ContentType: "text/event-stream", Body: proxytest.Fixture(t, "openai_chat/text.sse")})
		oc := openaiClient(gw)
		s := oc.Chat.Completions.NewStreaming(ctx, chatParams("gpt-4o", false))
		var acc openai.ChatCompletionAccumulator
		for s.Next() {
			acc.AddChunk(s.Current())
		}
		if err := s.Err(); err != nil {
			t.Fatalf("the SDK saw an error: %v", err)
		}
		if acc.Model != "gpt-4.1-2025-04-14" || !strings.HasPrefix(acc.Choices[0].Message.Content, "Hello") {
			t.Errorf("answer %q from model %q, want the backup's stream", acc.Choices[0].Message.Content, acc.Model)
		}
	})
	t.Run("anthropic stream, alias", func(t *testing.T) {
		ac := anthropicClient(gw)
		s := ac.Messages.NewStreaming(ctx, messageParams("sonnet", false))
		var m anthropic.Message
		for s.Next() {
			if err := m.Accumulate(s.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Err(); err != nil {
			t.Fatalf("the SDK saw an error: %v", err)
		}
		// The answer names the model the provider says answered.
		if len(m.Content) == 0 || !strings.HasPrefix(m.Content[0].Text, "Hello") || m.Model != "claude-haiku-4-5-20251001" {
			t.Errorf("answer from model %q: %+v, want the provider's", m.Model, m.Content)
		}
		var sent struct{ Model string }
		if err := json.Unmarshal(gw.upstream.Last(t).Body, &sent); err != nil || sent.Model != "claude-sonnet-4-5" {
			t.Errorf("the provider was asked for %q (%v), want claude-sonnet-4-5", sent.Model, err)
		}
	})
	// Records are written as handlers return, not in request order.
	chats := 0
	for _, rec := range waitRecords(t, gw, 3) {
		if rec.RequestedModel != "gpt-4o" {
			continue
		}
		chats++
		if rec.Provider != "backup" || rec.Model != "openai/gpt-4o" || len(rec.Attempts) != 2 || rec.Status != 200 {
			t.Errorf("record provider %q model %q attempts %+v status %d; want backup after primary",
				rec.Provider, rec.Model, rec.Attempts, rec.Status)
		}
	}
	if chats != 2 {
		t.Errorf("%d records of the aliased chat requests, want 2", chats)
	}
}
