package proxy

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/ui"
)

// matrixJSON is GET /api/policy/matrix: the running policy's access
// matrix, as `sluice policy matrix --json` prints it, with its revision.
type matrixJSON struct {
	Revision string `json:"revision"`
	*engine.Matrix
}

func (s *Server) policyMatrix(w http.ResponseWriter, r *http.Request) {
	eng := s.state.Load().engine
	m, err := eng.Matrix(r.Context())
	if err != nil {
		s.log.Error("computing the access matrix failed", "err", err)
		writeLocalError(w, http.StatusInternalServerError, "the access matrix could not be computed: "+err.Error())
		return
	}
	writeLocalJSON(w, http.StatusOK, matrixJSON{Revision: eng.Revision(), Matrix: m})
}

// diffJSON is POST /api/policy/diff's answer: who gains and who loses
// what if the draft replaced the running configuration, or the draft's
// problems when it does not load.
type diffJSON struct {
	OK       bool               `json:"ok"`
	Equal    bool               `json:"equal"`
	Diff     *engine.MatrixDiff `json:"diff,omitempty"`
	Problems []Problem          `json:"problems"`
	Text     string             `json:"text,omitempty"`
}

// policyDiff compares the access a draft configuration gives with the
// running one's, over the classes of callers either names, as `sluice
// policy diff` does. It changes nothing.
func (s *Server) policyDiff(w http.ResponseWriter, r *http.Request) {
	req, ok := readConfigRequest(w, r, false)
	if !ok {
		return
	}
	d, err := s.diffDraft(r.Context(), []byte(*req.Config))
	if err != nil {
		out := diffJSON{Problems: s.problems(err)}
		out.Text = validateText(out.Problems)
		writeLocalJSON(w, http.StatusOK, out)
		return
	}
	writeLocalJSON(w, http.StatusOK, diffJSON{OK: true, Equal: d.Equal(), Diff: d, Problems: []Problem{}})
}

// diffDraft compiles text as the running engine would (its own modules
// included) and returns the access it changes.
func (s *Server) diffDraft(ctx context.Context, text []byte) (*engine.MatrixDiff, error) {
	cfg, err := policy.Parse(s.configName(), text, nil)
	if err != nil {
		return nil, err
	}
	running := s.state.Load()
	draft, err := running.engine.Draft(ctx, cfg)
	if err != nil {
		return nil, err
	}
	classes := engine.Classes(running.cfg, cfg)
	old, err := running.engine.MatrixOf(ctx, classes)
	if err != nil {
		return nil, err
	}
	next, err := draft.MatrixOf(ctx, classes)
	if err != nil {
		return nil, err
	}
	return engine.DiffMatrices(old, next), nil
}

// Matrix gives the Policy page the running policy's access matrix.
func (p uiPolicy) Matrix(ctx context.Context) (ui.AccessMatrix, error) {
	eng := p.s.state.Load().engine
	m, err := eng.Matrix(ctx)
	if err != nil {
		p.s.log.LogAttrs(ctx, slog.LevelError, "computing the access matrix failed", slog.Any("err", err))
		return ui.AccessMatrix{}, err
	}
	out := ui.AccessMatrix{Revision: eng.Revision(), Models: len(m.Models)}
	for _, c := range m.Classes {
		ac := ui.AccessClass{Class: c.Class, Kind: c.Kind, Role: c.Role}
		for _, cell := range c.Allowed {
			ac.Allowed = append(ac.Allowed, ui.AccessCell{Pair: cell.Provider + "/" + cell.Model, Grants: cell.Grants})
		}
		out.Classes = append(out.Classes, ac)
	}
	return out, nil
}
