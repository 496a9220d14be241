package compat

import "encoding/json"

// maxTokenFields are the places the formats put the cap on the answer's
// length: OpenAI chat (max_completion_tokens, max_tokens), Responses
// (max_output_tokens), Anthropic on every route (max_tokens), Gemini and
// Vertex (generationConfig.maxOutputTokens), Bedrock Converse
// (inferenceConfig.maxTokens).
type maxTokenFields struct {
	MaxCompletionTokens *int64 `json:"max_completion_tokens"`
	MaxTokens           *int64 `json:"max_tokens"`
	MaxOutputTokens     *int64 `json:"max_output_tokens"`
	GenerationConfig    *struct {
		MaxOutputTokens *int64 `json:"maxOutputTokens"`
	} `json:"generationConfig"`
	InferenceConfig *struct {
		MaxTokens *int64 `json:"maxTokens"`
	} `json:"inferenceConfig"`
}

// MaxOutputTokens returns the most output tokens the request lets the model
// produce, as its body caps them; false when the body sets no positive cap
// (or is not a JSON object). The keys are read whatever the format, since
// no format uses another's key for anything else.
func MaxOutputTokens(body []byte) (int64, bool) {
	var f maxTokenFields
	if json.Unmarshal(body, &f) != nil {
		return 0, false
	}
	var caps []*int64
	caps = append(caps, f.MaxCompletionTokens, f.MaxTokens, f.MaxOutputTokens)
	if f.GenerationConfig != nil {
		caps = append(caps, f.GenerationConfig.MaxOutputTokens)
	}
	if f.InferenceConfig != nil {
		caps = append(caps, f.InferenceConfig.MaxTokens)
	}
	// The largest cap set: a request naming two (max_tokens beside
	// max_completion_tokens) is reserved for the larger.
	var n int64
	for _, c := range caps {
		if c != nil && *c > n {
			n = *c
		}
	}
	return n, n > 0
}
