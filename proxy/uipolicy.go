package proxy

import (
	"context"
	"errors"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/ui"
)

// uiPolicy gives the dashboard's Policy and Settings pages what they read
// from the running state, through the same code as the admin API.
type uiPolicy struct{ s *Server }

var _ ui.Policy = uiPolicy{}

func (p uiPolicy) Modules() (string, []ui.Module) {
	eng := p.s.state.Load().engine
	mods := eng.Modules()
	out := make([]ui.Module, len(mods))
	for i, m := range mods {
		out[i] = ui.Module{Name: m.Name, Text: string(m.Text)}
	}
	return eng.Revision(), out
}

func (p uiPolicy) Choices() ui.Choices {
	cfg := p.s.state.Load().cfg
	c := ui.Choices{Formats: policy.Formats}
	for _, pr := range cfg.Providers {
		c.Providers = append(c.Providers, ui.ProviderModels{ID: pr.ID, Models: pr.Models})
	}
	return c
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
	if err != nil {
		return ui.Decision{}, err
	}
	return uiDecision(x), nil
}

func (p uiPolicy) Explain(ctx context.Context, id string) (ui.LoggedDecision, error) {
	ld, err := p.s.explainLogged(ctx, id)
	if err != nil {
		return ui.LoggedDecision{}, err
	}
	out := ui.LoggedDecision{Request: ld.rec, NoRoute: ld.noRoute, Revision: ld.current, Note: explainNote}
	if ld.x != nil {
		d := uiDecision(*ld.x)
		out.Decision = &d
	}
	// The page shows metadata only: raw bodies are never read here.
	out.Request.RawRequest, out.Request.RawResponse = nil, nil
	return out, nil
}

// uiDecision is an explanation as the dashboard shows it.
func uiDecision(x explained) ui.Decision {
	d := x.Decision
	out := ui.Decision{
		Allow: d.Allow, Role: d.Role, Admin: d.Admin, Refusal: refusalText(d.Code), Revision: d.Revision,
		Quotas: d.Quotas, Login: x.Input.User.Login, Tags: x.Input.User.Tags, Provider: x.Input.Request.Provider,
		Model: x.Input.Request.Model, Format: x.Input.Request.Format, Candidates: x.Candidates,
	}
	for _, h := range d.Hooks {
		out.Hooks = append(out.Hooks, ui.HookUse{Hook: h.Hook, Events: h.Events})
	}
	for _, dn := range x.Denials {
		out.Denials = append(out.Denials, ui.Denial{Reason: dn.Reason, Rule: dn.Rule})
	}
	for _, a := range x.AllowedBy {
		out.AllowedBy = append(out.AllowedBy, ui.Allowance{Grant: a.Grant, Pos: a.Pos, Tailnet: a.Source == "tailnet"})
	}
	for _, g := range x.Grants {
		gm := ui.GrantMatch{Grant: g.Grant, Pos: g.Pos, Kind: g.Kind, Src: g.Src, Applies: g.Applies, Role: g.Role, Hook: g.Hook}
		for _, pp := range g.Providers {
			gm.Providers = append(gm.Providers, pp.Provider+"/"+pp.Model)
		}
		out.Grants = append(out.Grants, gm)
	}
	return out
}

// refusalText says what a decision's refusal code means, for people.
func refusalText(code string) string {
	switch code {
	case engine.CodeNoRole:
		return "no role: no grant makes this caller a user or an admin"
	case engine.CodeNoModel:
		return "no grant lets this caller use this provider and model"
	case engine.CodeDenied:
		return "a deny rule fired"
	}
	return code
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
		Editable: s.opts.ConfigFile != "" || s.opts.ConfigDB != nil,
		Running:  string(cur.text) == string(s.state.Load().cfg.Raw),
	}, nil
}
