package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy"
	"github.com/sluice-gateway/sluice/store"
)

// startup is what serve tells the operator once everything is open, one
// log line each: which build, which configuration, who callers are, where
// it listens and records, which policy runs; then a warning for each
// setting that is likely a mistake.
type startup struct {
	configPath string
	front      *front
	// db is the request log's DSN or file, stateDir/sluice.db when empty.
	db       string
	stateDir string
	spool    *store.Spool
	cfg      *policy.Config
	srv      *proxy.Server
	// tracing says whether spans are exported (the tracing section or
	// OTEL_TRACES_EXPORTER turned it on).
	tracing bool
	// maxConns is --max-conns, weighed against the open-files limit.
	maxConns int
}

func (s startup) log(ctx context.Context, log *slog.Logger) {
	log.Info("sluice starting", "version", buildVersion())
	if s.configPath == "" {
		log.Info("config", "source", "embedded default")
	} else {
		log.Info("config", "source", "file", "path", s.configPath)
	}
	log.Info("identity", s.front.identity...)
	log.Info("listening", "addresses", s.front.url)
	if soft, hard, ok := openFilesLimit(); ok {
		log.Info("open files", "limit", soft, "hard_limit", hard, "max_conns", s.maxConns)
		if w := openFilesWarning(soft, s.maxConns); w != "" {
			log.Warn("warning: " + w)
		}
	}
	db := s.db
	switch db {
	case noRequestLog:
		log.Info("request log", "database", "none", "note", "--db none: requests are not recorded; quotas, /api/requests and the dashboard's log are off")
	case "":
		db = filepath.Join(s.stateDir, "sluice.db")
		fallthrough
	default:
		log.Info("request log", "database", redactDSN(db), "spool", s.spool.Dir())
	}
	if s.tracing {
		t := s.cfg.Tracing
		sampling := "OTEL_TRACES_SAMPLER (default: every request)"
		if t.SampleRatio != nil {
			sampling = fmt.Sprint(*t.SampleRatio)
		}
		log.Info("tracing", "exporter", "otlp", "protocol", orDefault(t.Protocol, "from OTEL_EXPORTER_OTLP_PROTOCOL"),
			"endpoint", orDefault(redactDSN(t.Endpoint), "from OTEL_EXPORTER_OTLP_ENDPOINT"), "sample_ratio", sampling,
			"capture_content", t.CaptureContent)
	}

	// A caller no grant names: if policy makes them admin, every caller is.
	x, err := s.srv.Explain(ctx, engine.Input{User: engine.User{Login: "sluice-startup-probe@unknown.invalid"}})
	probe := x.Decision
	log.Info("policy", "revision", s.srv.PolicyRevision(), "grants", len(s.cfg.TempGrants)+len(s.cfg.Grants),
		"providers", len(s.cfg.Providers), "models", len(s.cfg.Models()), "hooks", len(s.cfg.Hooks))
	for _, w := range startupWarnings(s.cfg, probe, err) {
		log.Warn("warning: " + w)
	}
}

// startupWarnings lists the settings of cfg likely to be mistakes: keys
// still the default's placeholders (the loader already warns of empty
// ones); a policy that makes an
// unknown caller (probe) admin; raw bodies stored in clear.
func startupWarnings(cfg *policy.Config, probe engine.Decision, probeErr error) []string {
	var ws []string
	for _, p := range cfg.Providers {
		switch {
		case p.Disabled:
		case isPlaceholderKey(p.APIKey):
			ws = append(ws, fmt.Sprintf("provider %s has the placeholder API key %q: put the real key in through an environment macro (\"apikey\": \"${%s_API_KEY}\")",
				p.ID, p.APIKey, strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(p.ID))))
		}
	}
	for _, h := range cfg.Hooks {
		if !h.Disabled && isPlaceholderKey(h.APIKey) {
			ws = append(ws, fmt.Sprintf("hook %s has the placeholder API key %q", h.Name, h.APIKey))
		}
	}
	switch {
	case probeErr != nil:
		ws = append(ws, "could not ask the policy about an unknown caller: "+probeErr.Error())
	case probe.Admin:
		ws = append(ws, "everyone is admin: a caller no grant names gets the admin role (every user's request log, /metrics); restrict the grants")
	}
	if cfg.Tracing.CaptureContent {
		ws = append(ws, "tracing.capture_content is on: sampled spans carry prompts and answers to the trace backend")
	}
	if cfg.Database.SaveRaws && !cfg.Database.KeepEncryptedBlobs {
		ws = append(ws, "database.save_raws is on without database.keep_encrypted_blobs: request and response bodies are stored in clear")
	}
	return ws
}

// openFilesWarning warns when the open-files limit cannot hold
// --max-conns HTTP/1.1 streams: each holds two descriptors, the client's
// connection and the provider's, and the gateway needs some of its own
// (database, spool, listeners). A refused accept or dial would show as
// failed requests under load instead.
func openFilesWarning(limit uint64, maxConns int) string {
	const own = 256
	if maxConns <= 0 || limit >= uint64(2*maxConns+own) {
		return ""
	}
	return fmt.Sprintf("the open-files limit (%d) is below what --max-conns %d HTTP/1.1 streams need (%d: two each, and the gateway's own); raise the limit (ulimit -n, LimitNOFILE=) or lower --max-conns",
		limit, maxConns, 2*maxConns+own)
}

// isPlaceholderKey tells an API key that was never filled in, such as the
// default configuration's "YOUR_OPENAI_API_KEY".
func isPlaceholderKey(k string) bool {
	u := strings.ToUpper(k)
	return strings.HasPrefix(u, "YOUR_") || strings.HasPrefix(u, "YOUR-") ||
		strings.Contains(u, "PLACEHOLDER") || strings.Contains(u, "CHANGEME") || strings.Contains(u, "CHANGE_ME")
}

// redactDSN shows a database address without its password, in URL or
// key=value form.
func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.Redacted()
	}
	return passwordField.ReplaceAllString(dsn, "${1}xxxxx")
}

var passwordField = regexp.MustCompile(`(password\s*=\s*)('[^']*'|\S+)`)
