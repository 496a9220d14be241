package store

import (
	"encoding/json"
	"fmt"
)

// DecisionInput is what a request's access decision was made on, beyond
// the columns the row already has (login, node, tailnet, model, format,
// path), and what the policy answered. With the row it rebuilds the whole
// decision input, so `sluice policy replay` can decide past requests again
// under a candidate policy. It holds identity attributes from the tailnet,
// never credentials.
type DecisionInput struct {
	Tags   []string `json:"tags,omitempty"`
	Groups []string `json:"groups,omitempty"`
	// Caps are the caller's tailnet policy capabilities (raw JSON).
	Caps []json.RawMessage `json:"caps,omitempty"`
	// Allow is the policy's answer: whether some provider of the model was
	// granted to the caller.
	Allow bool `json:"allow"`
}

// maxDecisionText bounds the decision column. An input that does not fit
// (an identity with huge capabilities) is not kept at all rather than cut:
// a partial input would replay as a different caller.
const maxDecisionText = 64 << 10

// encodeDecision is the decision column for d: ” when there is none (no
// decision was made) or it does not fit.
func encodeDecision(d *DecisionInput) string {
	if d == nil {
		return ""
	}
	b, ok := appendDecision(nil, d)
	var err error
	if !ok {
		b, err = json.Marshal(d)
	}
	if err != nil || len(b) > maxDecisionText {
		return "" // a capability that is not JSON, or too large to keep
	}
	return cleanText(string(b), maxDecisionText)
}

// decodeDecision reads the decision column: nil for ”.
func decodeDecision(s string) (*DecisionInput, error) {
	if s == "" {
		return nil, nil
	}
	var d DecisionInput
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		return nil, fmt.Errorf("decision column: %w", err)
	}
	return &d, nil
}
