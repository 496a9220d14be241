package proxy

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/replay"
	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/ui"
)

// replayRequest is POST /api/policy/replay's body: a candidate
// configuration and how far back to replay ("7d", "12h"; all when empty).
type replayRequest struct {
	Config *string `json:"config"`
	Since  string  `json:"since"`
}

// replayJSON is its answer: the report of `sluice policy replay --json`,
// or where the candidate does not load.
type replayJSON struct {
	OK       bool           `json:"ok"`
	Problems []Problem      `json:"problems"`
	Text     string         `json:"text,omitempty"`
	Report   *replay.Report `json:"report,omitempty"`
}

// policyReplay decides the recorded requests again under a candidate
// configuration (with the running policy's own modules) and reports who
// gains and who loses which model, as `sluice policy replay` does.
func (s *Server) policyReplay(w http.ResponseWriter, r *http.Request) {
	if s.opts.Store == nil {
		writeLocalError(w, http.StatusServiceUnavailable, "this gateway keeps no request log to replay")
		return
	}
	var req replayRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxConfigBytes)).Decode(&req); err != nil || req.Config == nil {
		writeLocalJSON(w, http.StatusBadRequest, configError{Code: codeBadRequest,
			Error: "the body must be JSON: {\"config\": \"<HuJSON text>\", \"since\": \"7d\"}"})
		return
	}
	var f store.Filter
	if req.Since != "" {
		d, err := replay.ParseSince(req.Since)
		if err != nil {
			writeLocalJSON(w, http.StatusBadRequest, configError{Code: codeBadRequest, Error: "since: " + err.Error()})
			return
		}
		f.Since = time.Now().Add(-d)
	}
	cfg, err := policy.Parse(s.configName(), []byte(*req.Config), nil)
	if err == nil {
		var rep replay.Report
		eng, err2 := s.shadowEngine(r.Context(), cfg)
		if err = err2; err == nil {
			rep, err = replay.Run(r.Context(), s.opts.Store, eng, f)
			if err != nil {
				s.log.Error("policy replay failed", "err", err)
				writeLocalError(w, http.StatusInternalServerError, "the replay failed: "+err.Error())
				return
			}
			writeLocalJSON(w, http.StatusOK, replayJSON{OK: true, Problems: []Problem{}, Report: &rep})
			return
		}
	}
	out := replayJSON{Problems: s.problems(err)}
	out.Text = validateText(out.Problems)
	writeLocalJSON(w, http.StatusOK, out)
}

// Shadow gives the Policy page the shadow candidate and its latest
// differences.
func (p uiPolicy) Shadow() ui.Shadow {
	st := p.s.shadowState()
	out := ui.Shadow{Active: st.Active, Source: st.Source, Revision: st.Revision,
		Total: st.Differences.Total, AllowToDeny: st.Differences.AllowToDeny, DenyToAllow: st.Differences.DenyToAllow, Errors: st.Differences.Errors}
	if st.Since != nil {
		out.Since = *st.Since
	}
	for _, d := range st.Recent {
		out.Recent = append(out.Recent, ui.ShadowDifference{Time: d.Time, RequestID: d.RequestID, Login: d.Login,
			Provider: d.Provider, Model: d.Model, Live: d.Live, Shadow: d.Shadow, ShadowReasons: d.ShadowReasons, LiveReasons: d.LiveReasons})
	}
	return out
}
