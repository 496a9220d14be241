package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/sluice-gateway/sluice/policy"
)

// readCaps reads a WhoIs CapMap ({"tailscale.com/cap/aperture": [{...}],
// "other.example/cap/x": [...]}) and returns the aperture capabilities, as
// tailnet mode feeds them to policy. An empty name means none.
func readCaps(name string) ([]json.RawMessage, error) {
	if name == "" {
		return nil, nil
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var capMap map[string][]json.RawMessage
	if err := json.Unmarshal(data, &capMap); err != nil {
		return nil, fmt.Errorf("%s: want a CapMap, a JSON object of capability name to list: %w", name, err)
	}
	caps := capMap[policy.ApertureCap]
	for i, c := range caps {
		var obj map[string]any
		if json.Unmarshal(c, &obj) != nil {
			return nil, fmt.Errorf("%s: %s[%d] is not a JSON object", name, policy.ApertureCap, i)
		}
	}
	return caps, nil
}
