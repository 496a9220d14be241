package proxy

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
)

// sdkAllowed are the models sdkConfig grants the caller, in declaration
// order; the ungranted o3, claude-opus-4-1, gemini-2.5-flash-lite,
// gemini-2.0-flash, claude-opus-4-1@20250805 and the Llama model are not
// listed.
var sdkAllowed = []string{
	"gpt-4.1", "gpt-5-mini",
	"claude-sonnet-4-5", "claude-haiku-4-5",
	"gemini-2.5-flash",
	"gemini-2.5-pro", "claude-sonnet-4-5@20250929",
	"anthropic.claude-sonnet-4-5-20250929-v1:0", "us.amazon.nova-lite-v1:0",
	"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
}

// TestSDKModels: the SDKs' model listing and lookup, answered by sluice
// from the configuration and the caller's grants, in each SDK's shape,
// each model created when the gateway started serving (its date at the
// provider is not known).
func TestSDKModels(t *testing.T) {
	var started time.Time // when the gateway of the subtest started
	createdOK := func(id string, created time.Time) {
		if created.Before(started.Truncate(time.Second)) || created.After(time.Now()) {
			t.Errorf("model %s created %v, want the gateway's start, %v", id, created, started)
		}
	}
	tests := []struct {
		name string
		list func(ctx context.Context, gw *gateway) ([]string, error)
	}{
		{name: "openai list", list: func(ctx context.Context, gw *gateway) ([]string, error) {
			c := openaiClient(gw)
			var ids []string
			pager := c.Models.ListAutoPaging(ctx)
			for pager.Next() {
				m := pager.Current()
				if m.Object != "model" {
					t.Errorf("model %s has object %q", m.ID, m.Object)
				}
				createdOK(m.ID, time.Unix(m.Created, 0))
				ids = append(ids, m.ID)
			}
			return ids, pager.Err()
		}},
		{name: "anthropic list", list: func(ctx context.Context, gw *gateway) ([]string, error) {
			c := anthropicClient(gw)
			var ids []string
			pager := c.Models.ListAutoPaging(ctx, anthropic.ModelListParams{})
			for pager.Next() {
				m := pager.Current()
				if m.Type != "model" {
					t.Errorf("model %s has type %q", m.ID, m.Type)
				}
				createdOK(m.ID, m.CreatedAt)
				ids = append(ids, m.ID)
			}
			return ids, pager.Err()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			started = time.Now()
			gw := newGateway(t, sdkConfig, sdkLogin)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ids, err := tt.list(ctx, gw)
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			if !reflect.DeepEqual(ids, sdkAllowed) {
				t.Errorf("models\n  %v\nwant\n  %v", ids, sdkAllowed)
			}
			if n := len(gw.upstream.Received()); n != 0 {
				t.Errorf("listing models reached a provider %d times", n)
			}
		})
	}
}

func TestSDKModelLookup(t *testing.T) {
	tests := []struct {
		name, model string
		get         func(ctx context.Context, gw *gateway, model string) (string, error)
		typed       typedError
		wantStatus  int // 0: found
	}{
		{name: "openai allowed", model: "gpt-4.1", get: openaiGetModel, typed: openaiTyped},
		{name: "openai denied", model: "o3", get: openaiGetModel, typed: openaiTyped, wantStatus: http.StatusNotFound},
		{name: "anthropic allowed", model: "claude-haiku-4-5", get: anthropicGetModel, typed: anthropicTyped},
		{name: "anthropic denied", model: "claude-opus-4-1", get: anthropicGetModel, typed: anthropicTyped, wantStatus: http.StatusNotFound},
		{name: "anthropic unknown", model: "claude-2", get: anthropicGetModel, typed: anthropicTyped, wantStatus: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := newGateway(t, sdkConfig, sdkLogin)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			id, err := tt.get(ctx, gw, tt.model)
			if tt.wantStatus == 0 {
				if err != nil || id != tt.model {
					t.Fatalf("got %q, %v; want model %s", id, err, tt.model)
				}
				return
			}
			if err == nil {
				t.Fatalf("got model %q; want a %d error", id, tt.wantStatus)
			}
			status, msg, ok := tt.typed(t, err)
			if !ok || status != tt.wantStatus || !strings.Contains(msg, tt.model) {
				t.Errorf("error %T %d %q, want the SDK's %d naming %s", err, status, msg, tt.wantStatus, tt.model)
			}
		})
	}
}

func openaiGetModel(ctx context.Context, gw *gateway, model string) (string, error) {
	c := openaiClient(gw)
	m, err := c.Models.Get(ctx, model)
	if err != nil {
		return "", err
	}
	return m.ID, nil
}

func anthropicGetModel(ctx context.Context, gw *gateway, model string) (string, error) {
	c := anthropicClient(gw)
	m, err := c.Models.Get(ctx, model, anthropic.ModelGetParams{})
	if err != nil {
		return "", err
	}
	return m.ID, nil
}
