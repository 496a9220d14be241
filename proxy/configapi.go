package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"strings"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/policy"
)

// maxConfigBytes bounds a configuration sent to the config API.
const maxConfigBytes = 4 << 20

// isAdminAPIPath reports whether path is one of the admin-only endpoints
// of the config and policy API (see buildAdminAPI).
func isAdminAPIPath(path string) bool {
	return path == "/api/config" || strings.HasPrefix(path, "/api/config/") ||
		path == "/api/providers" || strings.HasPrefix(path, "/api/policy/") || path == "/api/status"
}

// buildAdminAPI returns the handler of the admin-only endpoints; routeLocal
// has checked that the caller is an admin before it is called:
//
//	GET  /api/config                  {config, exists, hash, file, editable, running}
//	PUT  /api/config                  {config, hash} -> {success, hash, new_hash, unchanged, warnings}
//	POST /api/config/validate         {config} -> {ok, problems, warnings, text, summary}
//	GET  /api/config/shadow           {active, source, hash, revision, since, config, differences, recent}
//	PUT  /api/config/shadow           {config} -> {success, hash, revision}: run a candidate in shadow
//	DELETE /api/config/shadow         -> {success, cleared}
//	POST /api/config/shadow/promote   {hash} -> as PUT /api/config, with the shadow's text
//	GET  /api/providers               [{id, name, description, models, compatibility, disabled}]
//	POST /api/policy/try              {user, tags, provider, model, format} -> the decision and why
//	GET  /api/policy/explain/{id}     the decision of a logged request, re-evaluated, and why
//	GET  /api/policy/modules          {revision, modules: [{name, text}]}: the compiled Rego
//	GET  /api/policy/bundle           the compiled Rego as a tar.gz bundle, for opa test
//	GET  /api/policy/matrix           {revision, models, classes}: who may use what
//	POST /api/policy/diff             {config} -> {ok, equal, diff, problems, text}: what a draft changes
//	POST /api/policy/replay           {config, since} -> {ok, problems, text, report}: recorded requests decided again
//	GET  /api/status                  this replica's revisions, request log and spool, and every live replica's
func (s *Server) buildAdminAPI() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/config", s.getConfig)
	mux.HandleFunc("PUT /api/config", s.putConfig)
	mux.HandleFunc("POST /api/config/validate", s.validateConfig)
	mux.HandleFunc("GET /api/config/shadow", s.getShadow)
	mux.HandleFunc("PUT /api/config/shadow", s.putShadow)
	mux.HandleFunc("DELETE /api/config/shadow", s.deleteShadow)
	mux.HandleFunc("POST /api/config/shadow/promote", s.promoteShadow)
	mux.HandleFunc("GET /api/providers", s.getProviders)
	mux.HandleFunc("POST /api/policy/try", s.tryPolicy)
	mux.HandleFunc("GET /api/policy/explain/{id}", s.explainRequest)
	mux.HandleFunc("GET /api/policy/modules", s.policyModules)
	mux.HandleFunc("GET /api/policy/bundle", s.policyBundle)
	mux.HandleFunc("GET /api/policy/matrix", s.policyMatrix)
	mux.HandleFunc("POST /api/policy/diff", s.policyDiff)
	mux.HandleFunc("POST /api/policy/replay", s.policyReplay)
	mux.HandleFunc("GET /api/status", s.getStatus)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeLocalError(w, http.StatusNotFound, "no such API endpoint: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

// callerOf is who routeLocal identified for a request of the local API.
func callerOf(r *http.Request) localCaller {
	c, _ := r.Context().Value(localCallerKey{}).(localCaller)
	return c
}

// configJSON is GET /api/config's answer.
type configJSON struct {
	// Config is the configuration file's text, comments and macros as
	// written (${VAR} is not expanded, so keys kept in the environment
	// stay there).
	Config string `json:"config"`
	// Exists is false when Config is not a file's: the embedded default.
	Exists bool   `json:"exists"`
	Hash   string `json:"hash"`
	// File is the configuration file saves write; empty on the embedded
	// default.
	File string `json:"file"`
	// Editable is false when a save would be refused for want of a file.
	Editable bool `json:"editable"`
	// Running is false when the file differs from the configuration being
	// served (edited, and not reloaded yet).
	Running bool `json:"running"`
}

func (s *Server) getConfig(w http.ResponseWriter, r *http.Request) {
	cf, err := s.configFile()
	if err != nil {
		s.log.Error("reading the configuration file", "file", s.opts.ConfigFile, "err", err)
		writeLocalError(w, http.StatusInternalServerError, "sluice could not read its configuration file: "+err.Error())
		return
	}
	writeLocalJSON(w, http.StatusOK, configJSON{Config: cf.Text, Exists: cf.Exists, Hash: cf.Hash, File: cf.File,
		Editable: cf.Editable, Running: cf.Running})
}

// Problem is one problem of a configuration, located in the file.
type Problem struct {
	// Line and Col are 1-based; 0 when the problem has no place.
	Line int `json:"line"`
	Col  int `json:"col"`
	// Message is what is wrong, as `sluice config validate` says it.
	Message string `json:"message"`
	// Code is a stable identifier of the kind of problem.
	Code string `json:"code"`
	// Path is the JSON pointer of the value at fault, when known.
	Path string `json:"path,omitempty"`
	// File is set when the place is not in the configuration but in a
	// Rego module (one of --policy DIR, or the generated grants).
	File string `json:"file,omitempty"`
	// Text is the line `sluice config validate` prints for it:
	// "file:line:col: message".
	Text string `json:"text"`
}

// Problem codes beyond policy's diagnostic codes.
const (
	codeRestartRequired = "restart_required"
	codeAdminLockout    = "admin_lockout"
	codeError           = "error"
)

// problems turns the error of a configuration check into located problems.
func (s *Server) problems(err error) []Problem {
	name := s.configName()
	var (
		diags    policy.Errors
		compile  *engine.CompileError
		restart  *RestartRequiredError
		lockout  *AdminLockoutError
		problems []Problem
	)
	switch {
	case errors.As(err, &diags):
		for _, d := range diags {
			p := Problem{Line: d.Pos.Line, Col: d.Pos.Col, Message: d.Message, Code: d.Code, Path: d.Path, Text: d.String()}
			if d.Pos.File != name {
				p.File = d.Pos.File
			}
			problems = append(problems, p)
		}
	case errors.As(err, &compile):
		for _, e := range compile.Errors {
			p := Problem{Message: e.Code + ": " + e.Message, Code: e.Code}
			if l := e.Location; l != nil {
				p.File, p.Line, p.Col = l.File, l.Row, l.Col
				p.Text = fmt.Sprintf("%s:%d:%d: %s", l.File, l.Row, l.Col, p.Message)
			} else {
				p.Text = p.Message
			}
			problems = append(problems, p)
		}
	case errors.As(err, &restart):
		problems = append(problems, Problem{Message: restart.Error(), Code: codeRestartRequired, Text: restart.Error()})
	case errors.As(err, &lockout):
		problems = append(problems, Problem{Message: lockout.Error(), Code: codeAdminLockout, Text: lockout.Error()})
	default:
		problems = append(problems, Problem{Message: err.Error(), Code: codeError, Text: err.Error()})
	}
	return problems
}

// warnings locates a configuration's warnings.
func warnings(cfg *policy.Config) []Problem {
	out := []Problem{}
	for _, d := range cfg.Warnings {
		out = append(out, Problem{Line: d.Pos.Line, Col: d.Pos.Col, Message: d.Message, Code: d.Code, Path: d.Path, Text: d.String()})
	}
	return out
}

// validateText is what `sluice config validate` prints for problems.
func validateText(problems []Problem) string {
	var b strings.Builder
	for _, p := range problems {
		b.WriteString("error: " + p.Text + "\n")
	}
	return b.String()
}

// configError is the answer to a refused save: Problems locate every
// problem found, Text is what `sluice config validate` prints for them.
type configError struct {
	Error    string    `json:"error"`
	Code     string    `json:"code"`
	Problems []Problem `json:"problems,omitempty"`
	Text     string    `json:"text,omitempty"`
	// Hash is the current configuration's hash, on a stale-hash conflict.
	Hash string `json:"hash,omitempty"`
	// Fields are the settings that need a restart.
	Fields []string `json:"fields,omitempty"`
}

// Codes of configError.
const (
	codeStaleHash    = "stale_hash"
	codeNoConfigFile = "no_config_file"
	codeInvalid      = "invalid"
	codeWriteFailed  = "write_failed"
	codeBadRequest   = "bad_request"
)

// configRequest is the body of PUT /api/config and POST /api/config/validate.
type configRequest struct {
	Config *string `json:"config"`
	Hash   string  `json:"hash"`
}

// readConfigRequest decodes the body, answering the client itself when it
// cannot.
func readConfigRequest(w http.ResponseWriter, r *http.Request, needHash bool) (configRequest, bool) {
	var req configRequest
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxConfigBytes)).Decode(&req)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeLocalJSON(w, http.StatusRequestEntityTooLarge, configError{Code: codeBadRequest,
			Error: fmt.Sprintf("the configuration is larger than %d bytes", maxConfigBytes)})
		return req, false
	case err != nil:
		writeLocalJSON(w, http.StatusBadRequest, configError{Code: codeBadRequest,
			Error: "the body must be JSON: {\"config\": \"<HuJSON text>\", \"hash\": \"<hash from GET /api/config>\"}: " + err.Error()})
		return req, false
	case req.Config == nil:
		writeLocalJSON(w, http.StatusBadRequest, configError{Code: codeBadRequest, Error: "the body has no \"config\""})
		return req, false
	case needHash && req.Hash == "":
		writeLocalJSON(w, http.StatusBadRequest, configError{Code: codeBadRequest,
			Error: "the body has no \"hash\": send the hash GET /api/config returned with the text you edited"})
		return req, false
	}
	return req, true
}

// putConfig saves a configuration. Answers:
//
//	200 saved and applied (or unchanged): {success, hash, new_hash, unchanged, warnings}
//	409 stale_hash: the configuration changed since it was read ({hash} is the current one)
//	409 no_config_file: serving the embedded default, there is no file to write
//	409 restart_required: a setting only a restart applies changed ({fields})
//	422 invalid: the configuration does not load or compile ({problems} located line:col, {text})
//	422 admin_lockout: the saver would no longer be an admin
//	500 write_failed: the file could not be written; nothing changed
//
// Nothing changes unless the answer is 200.
func (s *Server) putConfig(w http.ResponseWriter, r *http.Request) {
	req, ok := readConfigRequest(w, r, true)
	if !ok {
		return
	}
	c := callerOf(r)
	hash, unchanged, err := s.saveConfig(r.Context(), []byte(*req.Config), req.Hash, c.who)
	if err == nil {
		cfg := s.state.Load().cfg
		ws := []Problem{}
		if configHash(cfg.Raw) == hash {
			ws = warnings(cfg)
		}
		writeLocalJSON(w, http.StatusOK, map[string]any{
			"success": true, "hash": hash, "new_hash": hash, "unchanged": unchanged, "warnings": ws,
		})
		return
	}
	s.writeSaveError(w, c, err)
}

// writeSaveError answers a save that saveConfig refused, as PUT
// /api/config documents.
func (s *Server) writeSaveError(w http.ResponseWriter, c localCaller, err error) {
	var (
		stale   *StaleHashError
		restart *RestartRequiredError
		lockout *AdminLockoutError
		invalid policy.Errors
		compile *engine.CompileError
	)
	switch {
	case errors.Is(err, ErrNoConfigFile):
		writeLocalJSON(w, http.StatusConflict, configError{Error: err.Error(), Code: codeNoConfigFile})
	case errors.As(err, &stale):
		writeLocalJSON(w, http.StatusConflict, configError{Error: err.Error(), Code: codeStaleHash, Hash: stale.Current})
	case errors.As(err, &restart):
		writeLocalJSON(w, http.StatusConflict, configError{Error: err.Error(), Code: codeRestartRequired,
			Fields: restart.Fields, Problems: s.problems(err)})
	case errors.As(err, &lockout):
		writeLocalJSON(w, http.StatusUnprocessableEntity, configError{Error: err.Error(), Code: codeAdminLockout, Problems: s.problems(err)})
	case errors.As(err, &invalid), errors.As(err, &compile):
		ps := s.problems(err)
		writeLocalJSON(w, http.StatusUnprocessableEntity, configError{Code: codeInvalid, Problems: ps, Text: validateText(ps),
			Error: fmt.Sprintf("the configuration has %d problem(s); nothing was changed", len(ps))})
	default:
		s.log.Error("saving the configuration failed", "file", s.opts.ConfigFile, "by", c.login, "err", err)
		writeLocalJSON(w, http.StatusInternalServerError, configError{Error: err.Error(), Code: codeWriteFailed})
	}
}

// validateResult is POST /api/config/validate's answer.
type validateResult struct {
	// OK is true when saving this text would succeed (hash aside).
	OK       bool      `json:"ok"`
	Problems []Problem `json:"problems"`
	Warnings []Problem `json:"warnings"`
	// Text is what `sluice config validate` prints for the problems.
	Text    string         `json:"text"`
	Summary *configSummary `json:"summary,omitempty"`
}

// configSummary counts what a valid configuration holds, as `sluice config
// validate` prints it.
type configSummary struct {
	Providers int `json:"providers"`
	Models    int `json:"models"`
	GrantSets int `json:"grant_sets"`
	Hooks     int `json:"hooks"`
}

// validateConfig runs every check a save would run on the text, for the
// caller, and changes nothing; it answers 200 whatever it finds.
func (s *Server) validateConfig(w http.ResponseWriter, r *http.Request) {
	req, ok := readConfigRequest(w, r, false)
	if !ok {
		return
	}
	// The editor validates as the admin types: no log line per keystroke.
	quiet := slog.New(slog.DiscardHandler)
	snap, err := s.checkConfig(r.Context(), []byte(*req.Config), callerOf(r).who, quiet)
	out := validateResult{Problems: []Problem{}, Warnings: []Problem{}}
	if cfg, perr := policy.Parse(s.configName(), []byte(*req.Config), nil); perr == nil {
		out.Warnings = warnings(cfg)
	}
	if err != nil {
		out.Problems = s.problems(err)
		out.Text = validateText(out.Problems)
	} else {
		out.OK = true
		cfg := snap.cfg
		out.Summary = &configSummary{Providers: len(cfg.Providers), Models: len(cfg.Models()),
			GrantSets: len(cfg.TempGrants) + len(cfg.Grants), Hooks: len(cfg.Hooks)}
		out.Text = fmt.Sprintf("%s: ok (%d providers, %d models, %d grant sets, %d hooks)\n",
			s.configName(), out.Summary.Providers, out.Summary.Models, out.Summary.GrantSets, out.Summary.Hooks)
	}
	writeLocalJSON(w, http.StatusOK, out)
}

// providerJSON is one provider of GET /api/providers: never its key.
type providerJSON struct {
	ID            string          `json:"id"`
	Name          string          `json:"name"`
	Description   string          `json:"description"`
	Models        []string        `json:"models"`
	Compatibility map[string]bool `json:"compatibility"`
	Disabled      bool            `json:"disabled,omitempty"`
}

func (s *Server) getProviders(w http.ResponseWriter, r *http.Request) {
	cfg := s.state.Load().cfg
	out := make([]providerJSON, 0, len(cfg.Providers))
	for _, p := range cfg.Providers {
		name := p.Name
		if name == "" {
			name = p.ID
		}
		compat := maps.Clone(map[string]bool(p.Compatibility))
		out = append(out, providerJSON{ID: p.ID, Name: name, Description: p.Description,
			Models: append([]string{}, p.Models...), Compatibility: compat, Disabled: p.Disabled})
	}
	writeLocalJSON(w, http.StatusOK, out)
}

// writeLocalJSON answers a request to the gateway's own endpoints with v.
func writeLocalJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// readJSON decodes a small JSON request body into v.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}
