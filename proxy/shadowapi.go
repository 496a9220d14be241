package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/policy"
)

// SetShadow runs eng in shadow next to the live policy, replacing any
// candidate (serve --shadow-config at start and on SIGHUP); nil clears
// it. source names where it came from.
func (s *Server) SetShadow(eng *engine.Engine, source string) {
	if eng == nil {
		s.shadow.set(nil)
		return
	}
	text := eng.Config().Raw
	s.shadow.set(&shadowCandidate{eng: eng, text: text, hash: configHash(text), source: source, since: time.Now().UTC()})
}

// shadowEngine builds the engine of a candidate configuration with the
// live policy's own modules, but neither its decision log nor its
// metrics: the candidate decides nothing that is enforced.
func (s *Server) shadowEngine(ctx context.Context, cfg *policy.Config) (*engine.Engine, error) {
	opts := append(slices.Clone(s.opts.EngineOptions), engine.WithDecisionLog(nil), engine.WithObserver(nil))
	return engine.New(ctx, cfg, opts...)
}

// shadowJSON is GET /api/config/shadow's answer.
type shadowJSON struct {
	Active   bool       `json:"active"`
	Source   string     `json:"source,omitempty"`
	Hash     string     `json:"hash,omitempty"`
	Revision string     `json:"revision,omitempty"`
	Since    *time.Time `json:"since,omitempty"`
	Config   string     `json:"config,omitempty"`
	// Differences counts the requests the candidate answered otherwise
	// since it was set.
	Differences shadowCounts `json:"differences"`
	// Recent are the latest differences, newest first.
	Recent []shadowDifference `json:"recent"`
}

type shadowCounts struct {
	Total       int64 `json:"total"`
	AllowToDeny int64 `json:"allow_to_deny"`
	DenyToAllow int64 `json:"deny_to_allow"`
	Errors      int64 `json:"errors"`
}

// shadowState is what GET /api/config/shadow and the dashboard show.
func (s *Server) shadowState() shadowJSON {
	out := shadowJSON{Recent: s.shadow.differences()}
	c := s.shadow.cur.Load()
	if c == nil {
		return out
	}
	since := c.since
	out.Active, out.Source, out.Hash, out.Since, out.Config = true, c.source, c.hash, &since, string(c.text)
	out.Revision = c.eng.Revision()
	out.Differences = shadowCounts{AllowToDeny: c.allowDeny.Load(), DenyToAllow: c.denyAllow.Load(), Errors: c.errs.Load()}
	out.Differences.Total = out.Differences.AllowToDeny + out.Differences.DenyToAllow + out.Differences.Errors
	return out
}

func (s *Server) getShadow(w http.ResponseWriter, r *http.Request) {
	writeLocalJSON(w, http.StatusOK, s.shadowState())
}

// putShadow runs a candidate configuration in shadow. Answers 200
// {success, hash, revision}, or 422 invalid with the problems located as
// POST /api/config/validate locates them; the running candidate stays
// then.
func (s *Server) putShadow(w http.ResponseWriter, r *http.Request) {
	req, ok := readConfigRequest(w, r, false)
	if !ok {
		return
	}
	text := []byte(*req.Config)
	cfg, err := policy.Parse(s.configName(), text, nil)
	var eng *engine.Engine
	if err == nil {
		eng, err = s.shadowEngine(r.Context(), cfg)
	}
	if err != nil {
		ps := s.problems(err)
		writeLocalJSON(w, http.StatusUnprocessableEntity, configError{Code: codeInvalid, Problems: ps, Text: validateText(ps),
			Error: fmt.Sprintf("the candidate has %d problem(s); the shadow policy was not changed", len(ps))})
		return
	}
	s.SetShadow(eng, "api")
	c := callerOf(r)
	s.log.Info("policy shadow set", slog.String("by", c.login), slog.String("revision", eng.Revision()))
	writeLocalJSON(w, http.StatusOK, map[string]any{"success": true, "hash": configHash(text), "revision": eng.Revision()})
}

func (s *Server) deleteShadow(w http.ResponseWriter, r *http.Request) {
	cleared := s.shadow.cur.Load() != nil
	s.shadow.set(nil)
	if cleared {
		s.log.Info("policy shadow cleared", slog.String("by", callerOf(r).login))
	}
	writeLocalJSON(w, http.StatusOK, map[string]any{"success": true, "cleared": cleared})
}

// promoteShadow makes the shadow candidate the live configuration: it is
// saved as PUT /api/config saves a text, with the hash of the live
// configuration the caller last read (409 stale_hash when it changed),
// the same checks (422 admin_lockout, 409 restart_required...), and the
// shadow is cleared once it is live. 409 no_shadow when none runs.
func (s *Server) promoteShadow(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Hash string `json:"hash"`
	}
	if err := readJSON(w, r, &req); err != nil || req.Hash == "" {
		writeLocalJSON(w, http.StatusBadRequest, configError{Code: codeBadRequest,
			Error: "the body must be {\"hash\": \"<hash of the live configuration, from GET /api/config>\"}"})
		return
	}
	cand := s.shadow.cur.Load()
	if cand == nil {
		writeLocalJSON(w, http.StatusConflict, configError{Code: codeNoShadow, Error: "no shadow policy runs; PUT /api/config/shadow sets one"})
		return
	}
	c := callerOf(r)
	hash, unchanged, err := s.saveConfig(r.Context(), cand.text, req.Hash, c.who)
	if err != nil {
		s.writeSaveError(w, c, err)
		return
	}
	s.shadow.mu.Lock()
	if s.shadow.cur.Load() == cand {
		s.shadow.cur.Store(nil)
		s.shadow.recent = nil
	}
	s.shadow.mu.Unlock()
	s.log.Info("policy shadow promoted", slog.String("by", c.login), slog.String("revision", s.state.Load().engine.Revision()))
	writeLocalJSON(w, http.StatusOK, map[string]any{
		"success": true, "hash": hash, "new_hash": hash, "unchanged": unchanged, "revision": s.state.Load().engine.Revision(),
	})
}

// codeNoShadow answers a promotion without a shadow policy.
const codeNoShadow = "no_shadow"

// ShadowRevision is the policy revision of the shadow candidate; "" when
// none runs.
func (s *Server) ShadowRevision() string {
	if c := s.shadow.cur.Load(); c != nil {
		return c.eng.Revision()
	}
	return ""
}
