package policy

import (
	"errors"
	"fmt"
	"strings"
)

// Target is where a requested model goes once force_model, model_aliases
// and the provider:model?params spelling were applied.
type Target struct {
	// Requested is the model the client asked for.
	Requested string
	// Model is the model the provider is asked for.
	Model string
	// Provider is the provider the model names ("openrouter:..."); ""
	// when any provider that serves Model may answer.
	Provider string
	// Params is the raw query of "model?temperature=0.2&max_tokens=50",
	// for the API format to set in the body; "" when none.
	Params string
}

// Rewritten reports whether the upstream is asked for something other
// than what the client sent.
func (t Target) Rewritten() bool { return t.Model != t.Requested || t.Params != "" }

// ErrBadModel is a model name whose provider:model?params form is
// malformed.
var ErrBadModel = errors.New("malformed model name")

// Resolve applies the forced model (force, else force_model), then the first model_aliases rule that
// matches, then splits "provider:model?params". A prefix before ':' counts
// as a provider only when a provider of that ID is configured, so model
// names with colons ("llama3:8b") stay whole.
func (c *Config) Resolve(requested, force string) (Target, error) {
	t := Target{Requested: requested}
	model := requested
	if force == "" {
		force = c.ForceModel
	}
	if force != "" {
		model = force
	}
	for _, a := range c.ModelAliases {
		if m := a.Pattern.FindStringSubmatchIndex(model); m != nil {
			// The first match is replaced, as a regexp replace would.
			model = model[:m[0]] + string(a.Pattern.ExpandString(nil, a.Replacement, model, m)) + model[m[1]:]
			break
		}
	}
	model, t.Params, _ = strings.Cut(model, "?")
	if id, rest, ok := strings.Cut(model, ":"); ok && c.Provider(id) != nil {
		t.Provider, model = id, rest
	}
	if model == "" {
		return t, fmt.Errorf("%w %q: no model after the provider", ErrBadModel, requested)
	}
	t.Model = model
	return t, nil
}

// GrantsForceModels reports whether a capability of the grants section
// forces a model, so the gateway asks policy for it before routing.
func (c *Config) GrantsForceModels() bool { return c.grantsForce }

func (c *Config) findForcingGrants() bool {
	for _, g := range c.Grants {
		for _, cap := range g.Caps {
			if cap.ForceModel != "" {
				return true
			}
		}
	}
	return false
}
