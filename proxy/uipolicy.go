package proxy

import (
	"context"
	"errors"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/rego"
	"github.com/sluice-gateway/sluice/ui"
)

// uiPolicy gives the dashboard's Policy and Settings pages what they read
// from the running state, through the same code as the admin API.
type uiPolicy struct{ s *Server }

var _ ui.Policy = uiPolicy{}

func (p uiPolicy) Modules() (string, []rego.Module) {
	eng := p.s.state.Load().engine
	return eng.Revision(), eng.Modules()
}

func (p uiPolicy) Providers() []ui.ProviderModels {
	cfg := p.s.state.Load().cfg
	out := make([]ui.ProviderModels, 0, len(cfg.Providers))
	for _, pr := range cfg.Providers {
		out = append(out, ui.ProviderModels{ID: pr.ID, Models: pr.Models})
	}
	return out
}

func (p uiPolicy) Try(ctx context.Context, q ui.TryQuery) (ui.Decision, error) {
	in, err := tryInput(tryRequest{User: q.User, Tags: q.Tags, Provider: q.Provider, Model: q.Model, Format: q.Format})
	if err != nil {
		return ui.Decision{}, &ui.QueryError{Msg: err.Error()}
	}
	x, err := p.s.explain(ctx, in)
	if errors.Is(err, engine.ErrNoProvider) {
		return ui.Decision{}, &ui.QueryError{Msg: noProviderMessage(in)}
	}
	return ui.Decision{Explanation: x.Explanation, Candidates: x.Candidates}, err
}

func (p uiPolicy) Explain(ctx context.Context, id string) (ui.LoggedDecision, error) {
	ld, err := p.s.explainLogged(ctx, id)
	if err != nil {
		return ui.LoggedDecision{}, err
	}
	out := ui.LoggedDecision{Request: ld.rec, NoRoute: ld.noRoute, Revision: ld.current, Note: explainNote}
	if ld.x != nil {
		out.Decision = &ui.Decision{Explanation: ld.x.Explanation, Candidates: ld.x.Candidates}
	}
	// The page shows metadata only: raw bodies are never read here.
	out.Request.RawRequest, out.Request.RawResponse = nil, nil
	return out, nil
}

func (p uiPolicy) Config() (ui.ConfigFile, error) { return p.s.configFile() }

// configFile is the configuration as the config API and the Settings page
// show it.
func (s *Server) configFile() (ui.ConfigFile, error) {
	cur, err := s.readConfig()
	if err != nil {
		return ui.ConfigFile{}, err
	}
	return ui.ConfigFile{
		Text:     string(cur.text),
		Hash:     cur.hash,
		File:     s.opts.ConfigFile,
		Exists:   cur.exists,
		Editable: s.opts.ConfigFile != "",
		Running:  string(cur.text) == string(s.state.Load().cfg.Raw),
	}, nil
}
