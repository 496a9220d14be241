package decisionlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// MaskRule takes one path out of events before they are shipped, as a
// rule of OPA's system.log.mask does. In the file it is a JSON pointer
// string (erase) or {"op": "remove"|"upsert", "path": ..., "value": ...}.
type MaskRule struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value,omitempty"`

	value any // Value decoded
}

// UnmarshalJSON reads either form of a rule.
func (m *MaskRule) UnmarshalJSON(b []byte) error {
	var path string
	if err := json.Unmarshal(b, &path); err == nil {
		*m = MaskRule{Op: "remove", Path: path}
		return nil
	}
	type plain MaskRule
	var p plain
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*m = MaskRule(p)
	return nil
}

func (m *MaskRule) check() error {
	switch m.Op {
	case "remove":
	case "upsert":
		if m.Value == nil {
			return errors.New(`op "upsert" needs a value`)
		}
		if err := json.Unmarshal(m.Value, &m.value); err != nil {
			return fmt.Errorf("value: %w", err)
		}
	default:
		return fmt.Errorf(`op %q: want "remove" or "upsert"`, m.Op)
	}
	parts, err := pointer(m.Path)
	if err != nil {
		return err
	}
	if len(parts) < 2 || (parts[0] != "input" && parts[0] != "result") {
		return fmt.Errorf("path %q: masks apply below /input or /result", m.Path)
	}
	return nil
}

// pointer splits a JSON pointer (RFC 6901) into its unescaped tokens.
func pointer(p string) ([]string, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("path %q is not a JSON pointer (it starts with /)", p)
	}
	parts := strings.Split(p[1:], "/")
	for i, s := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
	}
	return parts, nil
}

// apply masks ev in place and notes what it changed in the event's
// "erased" and "masked" lists, as OPA does.
func (m *MaskRule) apply(ev map[string]any) {
	parts, _ := pointer(m.Path) // checked at load
	var parent any = ev
	for _, k := range parts[:len(parts)-1] {
		obj, ok := parent.(map[string]any)
		if !ok {
			return
		}
		if parent, ok = obj[k]; !ok {
			return
		}
	}
	obj, ok := parent.(map[string]any)
	if !ok {
		return
	}
	last := parts[len(parts)-1]
	switch m.Op {
	case "remove":
		if _, ok := obj[last]; !ok {
			return
		}
		delete(obj, last)
		ev["erased"] = append(asList(ev["erased"]), m.Path)
	case "upsert":
		obj[last] = m.value
		ev["masked"] = append(asList(ev["masked"]), m.Path)
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}
