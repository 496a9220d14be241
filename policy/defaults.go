package policy

import (
	_ "embed"
	"sync"
)

// DefaultHuJSON is the default configuration, comments included. It is what
// `sluice config default` prints and what `sluice serve` runs without
// --config: every user may use every model of OpenAI and Anthropic.
//
//go:embed default.hujson
var DefaultHuJSON []byte

// DefaultFile names the embedded default configuration in positions.
const DefaultFile = "default.hujson"

var (
	defaultOnce   sync.Once
	defaultConfig *Config
	defaultErr    error
)

// Default returns the parsed default configuration. It panics if the
// embedded file is invalid, which a test guards against.
func Default() *Config {
	defaultOnce.Do(func() {
		defaultConfig, defaultErr = Parse(DefaultFile, DefaultHuJSON, func(string) (string, bool) { return "", false })
	})
	if defaultErr != nil {
		panic("policy: embedded default configuration is invalid: " + defaultErr.Error())
	}
	return defaultConfig
}

// defaultGrants are the grants of a configuration without a temp_grants
// section: the default configuration's, less grant sets with no sources
// (they name the default's example hook, which the file may not define).
func defaultGrants() []*GrantSet {
	var out []*GrantSet
	for _, s := range Default().TempGrants {
		if len(s.Src) > 0 {
			out = append(out, s)
		}
	}
	return out
}
