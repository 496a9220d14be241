package compat

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

var testModels = []Model{
	{ID: "gpt-5", Provider: "openai", Created: time.Unix(1754500000, 0), ContextWindow: 400000,
		Pricing: &Pricing{Input: "0.00000125", Output: "0.00001", InputCacheRead: "0.000000125"}},
	{ID: "claude-sonnet-4-5", Provider: "anthropic", DisplayName: "Claude Sonnet 4.5", Created: time.Unix(1759104000, 0)},
}

func TestWriteModelsOpenAI(t *testing.T) {
	w := httptest.NewRecorder()
	WriteModels(w, http.Header{}, testModels)
	want := `{"object":"list","data":[
		{"id":"gpt-5","object":"model","created":1754500000,"owned_by":"openai",
		 "pricing":{"input":"0.00000125","output":"0.00001","input_cache_read":"0.000000125"},"context_window":400000},
		{"id":"claude-sonnet-4-5","object":"model","created":1759104000,"owned_by":"anthropic"}]}`
	if w.Code != 200 || !jsonEqual(w.Body.Bytes(), []byte(want)) {
		t.Errorf("%d %s", w.Code, w.Body)
	}
}

func TestWriteModelsAnthropic(t *testing.T) {
	h := http.Header{}
	h.Set("anthropic-version", "2023-06-01")
	w := httptest.NewRecorder()
	WriteModels(w, h, testModels)
	want := `{"data":[
		{"type":"model","id":"gpt-5","display_name":"gpt-5","created_at":"2025-08-06T17:06:40Z",
		 "pricing":{"input":"0.00000125","output":"0.00001","input_cache_read":"0.000000125"},"context_window":400000},
		{"type":"model","id":"claude-sonnet-4-5","display_name":"Claude Sonnet 4.5","created_at":"2025-09-29T00:00:00Z"}],
		"has_more":false,"first_id":"gpt-5","last_id":"claude-sonnet-4-5"}`
	if !jsonEqual(w.Body.Bytes(), []byte(want)) {
		t.Errorf("%s", w.Body)
	}
	w = httptest.NewRecorder()
	WriteModels(w, h, nil)
	if !jsonEqual(w.Body.Bytes(), []byte(`{"data":[],"has_more":false,"first_id":null,"last_id":null}`)) {
		t.Errorf("empty list %s", w.Body)
	}
}

func TestWriteModel(t *testing.T) {
	w := httptest.NewRecorder()
	WriteModel(w, http.Header{}, testModels[1])
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil || m["id"] != "claude-sonnet-4-5" || m["object"] != "model" {
		t.Errorf("%s", w.Body)
	}
}
