package compat

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Model describes one model for GET /v1/models.
type Model struct {
	ID string
	// Provider is the provider's ID (OpenAI's owned_by).
	Provider    string
	DisplayName string
	Created     time.Time
	// ContextWindow is the model's context window in tokens; 0 if unknown.
	ContextWindow int
	// Pricing is nil when unknown.
	Pricing *Pricing
}

// Pricing gives per-token prices in USD as decimal strings ("0.00000125"),
// the way aggregators publish them.
type Pricing struct {
	Input           string `json:"input"`
	Output          string `json:"output"`
	InputCacheRead  string `json:"input_cache_read,omitempty"`
	InputCacheWrite string `json:"input_cache_write,omitempty"`
}

// WantsAnthropicModels reports whether a models request comes from an
// Anthropic client (it sends anthropic-version), which expects
// Anthropic's list shape.
func WantsAnthropicModels(h http.Header) bool { return h.Get("Anthropic-Version") != "" }

type openAIModel struct {
	ID            string   `json:"id"`
	Object        string   `json:"object"`
	Created       int64    `json:"created"`
	OwnedBy       string   `json:"owned_by"`
	Pricing       *Pricing `json:"pricing,omitempty"`
	ContextWindow int      `json:"context_window,omitempty"`
}

type anthropicModel struct {
	Type          string   `json:"type"`
	ID            string   `json:"id"`
	DisplayName   string   `json:"display_name"`
	CreatedAt     string   `json:"created_at"`
	Pricing       *Pricing `json:"pricing,omitempty"`
	ContextWindow int      `json:"context_window,omitempty"`
}

func modelShapes(m Model, anthropic bool) any {
	if anthropic {
		name := m.DisplayName
		if name == "" {
			name = m.ID
		}
		return anthropicModel{Type: "model", ID: m.ID, DisplayName: name,
			CreatedAt: m.Created.UTC().Format(time.RFC3339), Pricing: m.Pricing, ContextWindow: m.ContextWindow}
	}
	return openAIModel{ID: m.ID, Object: "model", Created: m.Created.Unix(), OwnedBy: m.Provider,
		Pricing: m.Pricing, ContextWindow: m.ContextWindow}
}

// WriteModels answers GET /v1/models with models in OpenAI's list shape,
// or Anthropic's when the request headers carry anthropic-version.
func WriteModels(w http.ResponseWriter, reqHeader http.Header, models []Model) {
	anthropic := WantsAnthropicModels(reqHeader)
	data := make([]any, 0, len(models))
	for _, m := range models {
		data = append(data, modelShapes(m, anthropic))
	}
	var v any
	if anthropic {
		var first, last *string
		if len(models) > 0 {
			first, last = &models[0].ID, &models[len(models)-1].ID
		}
		v = struct {
			Data    []any   `json:"data"`
			HasMore bool    `json:"has_more"`
			FirstID *string `json:"first_id"`
			LastID  *string `json:"last_id"`
		}{data, false, first, last}
	} else {
		v = struct {
			Object string `json:"object"`
			Data   []any  `json:"data"`
		}{"list", data}
	}
	writeJSON(w, v)
}

// WriteModel answers GET /v1/models/{id} with one model in the shape
// WriteModels uses.
func WriteModel(w http.ResponseWriter, reqHeader http.Header, m Model) {
	writeJSON(w, modelShapes(m, WantsAnthropicModels(reqHeader)))
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		WriteError(w, OpenAIChat, 0, KindInternal, "cannot encode response")
		return
	}
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}
