package proxy

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/sluice-gateway/sluice/policy"
)

// RestartRequiredError refuses a reload that changes settings only a
// restart applies. None of the reload's changes were applied: a reload is
// taken whole or not at all.
type RestartRequiredError struct {
	// Fields are the changed settings, as JSON paths of the configuration.
	Fields []string
}

func (e *RestartRequiredError) Error() string {
	return fmt.Sprintf("%s changed, which takes effect only when sluice restarts; nothing of the new configuration was applied (restart sluice to apply it)",
		strings.Join(e.Fields, ", "))
}

// restartOnly lists the settings that are read once, when sluice starts,
// and so cannot change by a reload. Everything else is read from the
// configuration snapshot on each request (providers, grants, hooks,
// pricing, database.save_raws, tracing.capture_content) or on each run
// (database.retention), and applies at once.
var restartOnly = []struct {
	field   string
	changed func(old, new *policy.Config) bool
}{
	// The store seals raw bodies according to the value it was opened
	// with: turning it on by reload would keep storing prompts in the
	// clear, turning it off would keep sealing them.
	{"database.keep_encrypted_blobs", func(old, new *policy.Config) bool {
		return old.Database.KeepEncryptedBlobs != new.Database.KeepEncryptedBlobs
	}},
	// The trace exporter and sampler are built once, at start; whether
	// spans carry content (capture_content) is read per request.
	{"tracing", func(old, new *policy.Config) bool {
		o, n := old.Tracing, new.Tracing
		o.CaptureContent, n.CaptureContent = false, false
		return !o.Equal(n)
	}},
}

// needsRestart returns the error refusing a reload from old to new, or nil.
func needsRestart(old, new *policy.Config) error {
	var fields []string
	for _, r := range restartOnly {
		if r.changed(old, new) {
			fields = append(fields, r.field)
		}
	}
	if len(fields) > 0 {
		return &RestartRequiredError{Fields: fields}
	}
	return nil
}

// Reload applies cfg: the one reload path, for SIGHUP and every other
// configuration source. It compares cfg with the running configuration and
// either applies every change or, when one needs a restart, refuses with a
// *RestartRequiredError and applies none. Everything derived from cfg is
// built aside and swapped in at once; on any error the running
// configuration is kept. The decision log writer is kept, and so are the
// cached decisions when the policy revision is unchanged. A configuration
// whose file and policy revision are unchanged is a no-op: Config keeps
// returning the running one.
func (s *Server) Reload(ctx context.Context, cfg *policy.Config) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	return s.reloadLocked(ctx, cfg)
}

// ReloadFile reads Options.ConfigFile and applies it as Reload does,
// returning the configuration it read (whose Warnings the caller reports).
// The file is read under the same lock that PUT /api/config holds while it
// writes the file and swaps the configuration, so a SIGHUP can never apply
// a file older than the running configuration.
func (s *Server) ReloadFile(ctx context.Context) (*policy.Config, error) {
	if s.opts.ConfigFile == "" {
		return nil, ErrNoConfigFile
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	cfg, err := policy.Load(s.opts.ConfigFile)
	if err != nil {
		return nil, err
	}
	return cfg, s.reloadLocked(ctx, cfg)
}

// reloadLocked is Reload under reloadMu.
func (s *Server) reloadLocked(ctx context.Context, cfg *policy.Config) error {
	prev := s.state.Load()
	result, err := s.reload(ctx, cfg, prev)
	if prev != nil {
		// The first load is no reload; sluice_config_reloads_total counts
		// the later ones.
		s.metrics.countReload(result)
	}
	return err
}

// reload is Reload under reloadMu; result is its label in
// sluice_config_reloads_total.
func (s *Server) reload(ctx context.Context, cfg *policy.Config, prev *snapshot) (result string, err error) {
	if prev != nil {
		if err := needsRestart(prev.cfg, cfg); err != nil {
			s.log.Error("configuration refused", "file", cfg.File, "err", err)
			return "refused", err
		}
	}
	snap, err := newSnapshot(ctx, cfg, s.opts, prev)
	if err != nil {
		return "failed", err
	}
	if prev != nil && prev.cfg.File == cfg.File && bytes.Equal(prev.cfg.Raw, cfg.Raw) &&
		snap.engine.Revision() == prev.engine.Revision() {
		return "unchanged", nil
	}
	s.state.Store(snap)
	return "applied", nil
}
