package ui

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sluice-gateway/sluice/store"
)

// Policy is what the Policy and Settings pages read from the gateway: the
// running policy, decisions explained, and the configuration file. The
// gateway implements it over its running state (the dashboard imports
// none of the policy packages); the pages' changes go through the admin
// API (/api/config, /api/policy/...), never through it.
type Policy interface {
	// Modules returns the running policy's revision and its Rego modules,
	// as an export lays them out.
	Modules() (revision string, mods []Module)
	// Choices lists what the try form offers: providers with their
	// models, in declaration order, and the API formats.
	Choices() Choices
	// Try explains what the running policy decides for q. A query that
	// cannot be decided as asked (no caller, no model, a model no
	// provider serves) is a *QueryError.
	Try(ctx context.Context, q TryQuery) (Decision, error)
	// Explain decides the logged request id again and explains it;
	// store.ErrNotFound when there is no such request.
	Explain(ctx context.Context, id string) (LoggedDecision, error)
	// Config returns the configuration file as the editor shows it.
	Config() (ConfigFile, error)
	// Matrix is who may use what under the running policy.
	Matrix(ctx context.Context) (AccessMatrix, error)
	// Shadow is the candidate policy running in shadow, if any, and the
	// latest requests it answered otherwise than the live one.
	Shadow() Shadow
}

// Shadow is the shadow rollout the Policy page shows: the candidate
// (PUT /api/config/shadow or serve --shadow-config), its counts of
// differences, and the latest of them, newest first.
type Shadow struct {
	Active                                  bool
	Source, Revision                        string
	Since                                   time.Time
	Total, AllowToDeny, DenyToAllow, Errors int64
	Recent                                  []ShadowDifference
}

// ShadowDifference is one request the shadow answered otherwise: who,
// which model, the live answer and the shadow's (allow, deny, error).
type ShadowDifference struct {
	Time                       time.Time
	RequestID                  string
	Login, Provider, Model     string
	Live, Shadow               string
	LiveReasons, ShadowReasons []string
}

// AccessMatrix is the running policy's access matrix: every class of
// callers the grants tell apart, its role and the provider/model pairs it
// may use (`sluice policy matrix`).
type AccessMatrix struct {
	Revision string
	Models   int // configured provider/model pairs
	Classes  []AccessClass
}

// AccessClass is one class of callers and what the policy gives it.
type AccessClass struct {
	Class, Kind, Role string
	Allowed           []AccessCell
}

// AccessCell is one pair a class may use and the grants that allow it.
type AccessCell struct {
	Pair   string
	Grants []string
}

// Module is one Rego module of the compiled policy.
type Module struct {
	Name string
	Text string
}

// Choices are what the try form offers.
type Choices struct {
	Providers []ProviderModels
	Formats   []string
}

// ProviderModels is one provider and its models, for the try form.
type ProviderModels struct {
	ID     string
	Models []string
}

// TryQuery is a request to try: who asks for which model.
type TryQuery struct {
	User     string
	Tags     []string
	Provider string
	Model    string
	Format   string
}

// QueryError reports a TryQuery that cannot be decided as asked.
type QueryError struct{ Msg string }

func (e *QueryError) Error() string { return e.Msg }

// Decision is a policy decision and why, as the pages show it.
type Decision struct {
	Allow bool
	// Role is "admin", "user" or "none".
	Role  string
	Admin bool
	// Refusal says why a denied request was refused, for people.
	Refusal string
	// Revision is the policy revision that decided.
	Revision string
	Quotas   []string
	Hooks    []HookUse

	// Who asked for what.
	Login    string
	Tags     []string
	Provider string
	Model    string
	Format   string
	// Candidates are the providers routing tried, in order, when the
	// request named none.
	Candidates []string

	// Denials are the deny rules that fired; AllowedBy the grants that
	// allowed the request; Grants every grant whose src names the caller.
	Denials   []Denial
	AllowedBy []Allowance
	Grants    []GrantMatch
}

// HookUse is one hook the request would call, with its events.
type HookUse struct {
	Hook   string
	Events []string
}

// Denial is one deny rule that fired: its message and where the rule is.
type Denial struct {
	Reason string
	Rule   string
}

// Allowance is one grant that allowed the request.
type Allowance struct {
	Grant string
	// Pos is where the grant is in the configuration ("file:line:col").
	Pos string
	// Tailnet is true for a grant of the tailnet policy file.
	Tailnet bool
}

// GrantMatch is one grant that names the caller.
type GrantMatch struct {
	Grant string
	Pos   string
	Kind  string
	// Src are the grant's src patterns that name the caller.
	Src []string
	// Applies is true when the grant bears on this request.
	Applies bool
	// What the grant gives: a role, provider/model patterns, a hook.
	Role      string
	Providers []string
	Hook      string
}

// LoggedDecision is a logged request and its decision made again under
// the running policy.
type LoggedDecision struct {
	Request store.Record
	// Decision is nil when the request cannot be decided again; NoRoute
	// says why.
	Decision *Decision
	NoRoute  string
	// Revision decided again; Request.Revision decided then.
	Revision string
	// Note says what the re-decision cannot see.
	Note string
}

// ConfigFile is the configuration as the Settings page edits it.
type ConfigFile struct {
	Text string
	Hash string
	// File is where saves go; empty on the embedded default.
	File string
	// Exists is false when the text is not a file's.
	Exists bool
	// Editable is false when a save would be refused for want of a file.
	Editable bool
	// Running is false when the file differs from what is being served.
	Running bool
}

// ExplainPath is the Policy page's explanation of the logged request id:
// the request pages link it.
func ExplainPath(id string) string { return "/admin/policy/explain/" + url.PathEscape(id) }

// errNoPolicy reports a dashboard built without the gateway's policy.
var errNoPolicy = errors.New("this dashboard was built without access to the gateway's policy")

// policyView is the Policy page's data.
type policyView struct {
	Revision  string
	Modules   []Module
	Providers []ProviderModels
	Models    []string
	Formats   []string
	Query     TryQuery
	TagsText  string
	// Tried is set when the form was submitted: Result or Error.
	Tried  bool
	Result *Decision
	Error  string
	// Shadow is the shadow rollout's state.
	Shadow Shadow
}

// policyPage shows the compiled policy, the bundle download, and the
// "try a request" form with its result: the form is a GET, so a decision
// is a link an admin can share.
func (h *Handler) policyPage(w http.ResponseWriter, r *http.Request, c Caller) {
	p := h.opts.Policy
	if p == nil {
		h.fail(w, r, c, http.StatusServiceUnavailable, errNoPolicy.Error())
		return
	}
	choices := p.Choices()
	v := policyView{Providers: choices.Providers, Formats: choices.Formats}
	v.Revision, v.Modules = p.Modules()
	v.Shadow = p.Shadow()
	seen := map[string]bool{}
	for _, pm := range v.Providers {
		for _, m := range pm.Models {
			if !seen[m] {
				seen[m] = true
				v.Models = append(v.Models, m)
			}
		}
	}
	q := r.URL.Query()
	v.Query = TryQuery{User: q.Get("user"), Provider: q.Get("provider"), Model: q.Get("model"), Format: q.Get("format")}
	v.TagsText = q.Get("tags")
	v.Query.Tags = strings.FieldsFunc(v.TagsText, func(r rune) bool { return r == ',' || r == ' ' })
	if q.Has("model") || q.Has("user") {
		v.Tried = true
		d, err := p.Try(r.Context(), v.Query)
		var qe *QueryError
		switch {
		case errors.As(err, &qe):
			v.Error = err.Error()
		case err != nil:
			h.opts.Logger.Error("ui: trying a request", "err", err)
			v.Error = "the policy engine failed to decide; see the gateway's log"
		default:
			v.Result = &d
		}
	}
	h.render(w, r, c, http.StatusOK, "policy", "Policy", "policy", v)
}

// explainRedirect sends the page's "explain a logged request" form to the
// explanation's own URL.
func (h *Handler) explainRedirect(w http.ResponseWriter, r *http.Request, c Caller) {
	id := strings.TrimSpace(r.URL.Query().Get("id"))
	if id == "" {
		http.Redirect(w, r, "/admin/policy", http.StatusFound)
		return
	}
	http.Redirect(w, r, ExplainPath(id), http.StatusFound)
}

// explainPage explains the decision of one logged request.
func (h *Handler) explainPage(w http.ResponseWriter, r *http.Request, c Caller) {
	p := h.opts.Policy
	if p == nil {
		h.fail(w, r, c, http.StatusServiceUnavailable, errNoPolicy.Error())
		return
	}
	id := r.PathValue("id")
	ld, err := p.Explain(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		h.fail(w, r, c, http.StatusNotFound, "No logged request has ID "+id+".")
		return
	case err != nil:
		h.failErr(w, r, c, err)
		return
	}
	h.render(w, r, c, http.StatusOK, "explain", "Why request "+id+" was decided so", "policy", ld)
}

// settingsPage shows the configuration in the editor; settings.js
// validates it as the admin types and saves it through PUT /api/config.
func (h *Handler) settingsPage(w http.ResponseWriter, r *http.Request, c Caller) {
	p := h.opts.Policy
	if p == nil {
		h.fail(w, r, c, http.StatusServiceUnavailable, errNoPolicy.Error())
		return
	}
	cf, err := p.Config()
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	h.render(w, r, c, http.StatusOK, "settings", "Settings", "settings", cf)
}

// matrixPage shows who may use what under the running policy, and what a
// draft configuration would change (matrix.js asks POST /api/policy/diff).
func (h *Handler) matrixPage(w http.ResponseWriter, r *http.Request, c Caller) {
	p := h.opts.Policy
	if p == nil {
		h.fail(w, r, c, http.StatusServiceUnavailable, errNoPolicy.Error())
		return
	}
	m, err := p.Matrix(r.Context())
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	h.render(w, r, c, http.StatusOK, "matrix", "Access matrix", "policy", m)
}
