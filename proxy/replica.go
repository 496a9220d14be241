package proxy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/sluice-gateway/sluice/cluster"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy/identity"
)

// HeaderConfigRevision is on every response: the configuration revision
// the serving replica applied (with --config-source db), else the first
// 12 hex digits of its configuration's hash. Two answers with different
// values came from replicas serving different configurations.
const HeaderConfigRevision = "Sluice-Config-Revision"

// ConfigDB is the configuration shared by replicas in a database
// (--config-source db), and their heartbeats: a *cluster.DB.
type ConfigDB interface {
	Current(ctx context.Context) (cluster.Revision, error)
	Save(ctx context.Context, text []byte, base, by string) (cluster.Revision, bool, error)
	Replicas(ctx context.Context, staleAfter time.Duration) ([]cluster.Heartbeat, error)
}

var _ ConfigDB = (*cluster.DB)(nil)

// failedRevision is a stored revision this replica could not apply.
type failedRevision struct {
	number int64
	hash   string
	err    string
}

// revisionHeader is the value of HeaderConfigRevision for this snapshot.
func (s *snapshot) revisionHeader() string {
	s.headerOnce.Do(func() {
		if s.revision > 0 {
			s.header = strconv.FormatInt(s.revision, 10)
		} else {
			s.header = configHash(s.cfg.Raw)[:12]
		}
	})
	return s.header
}

// ConfigRevision returns the configuration revision being served: its
// number (0 when the configuration comes from a file) and hash.
func (s *Server) ConfigRevision() (number int64, hash string) {
	snap := s.state.Load()
	return snap.revision, configHash(snap.cfg.Raw)
}

// FailedRevision returns the newest stored revision this replica could not
// apply and why, or 0 when it serves the newest it was given.
func (s *Server) FailedRevision() (number int64, err string) {
	if f := s.failed.Load(); f != nil {
		return f.number, f.err
	}
	return 0, ""
}

// ApplyRevision serves a configuration revision read from the database,
// through the same checks as every reload. A revision not newer than the
// one served is ignored. One that does not load, compile, or changes a
// setting only a restart applies is refused: the running configuration is
// kept, and the refusal reported by FailedRevision (and GET /api/status)
// until a newer revision applies.
func (s *Server) ApplyRevision(ctx context.Context, rev cluster.Revision) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	prev := s.state.Load()
	if rev.Number <= prev.revision {
		return nil
	}
	cfg, err := policy.Parse(s.configName(), rev.Text, nil)
	result := "failed"
	if err == nil {
		if err = needsRestart(prev.cfg, cfg); err != nil {
			result = "refused"
		}
	}
	var snap *snapshot
	if err == nil {
		snap, err = newSnapshot(ctx, cfg, s.opts, prev)
	}
	if err != nil {
		s.failed.Store(&failedRevision{number: rev.Number, hash: rev.Hash, err: err.Error()})
		s.metrics.countReload(result)
		s.log.Error("configuration revision refused; serving the last good one", "revision", rev.Number,
			"serving", prev.revision, "err", err)
		return fmt.Errorf("configuration revision %d: %w", rev.Number, err)
	}
	snap.revision = rev.Number
	s.state.Store(snap)
	s.clearFailed(rev.Number)
	s.metrics.countReload("applied")
	s.log.Info("configuration revision applied", "revision", rev.Number, "saved_by", rev.SavedBy,
		"policy_revision", snap.engine.Revision())
	return nil
}

// clearFailed forgets a refused revision once n, as new or newer, is served.
func (s *Server) clearFailed(n int64) {
	if f := s.failed.Load(); f != nil && f.number <= n {
		s.failed.Store(nil)
	}
}

// saveConfigDB is saveConfig with --config-source db: every check a save
// runs, then the text stored as the next revision in the database (which
// compares base with the stored hash in the same transaction, and
// announces the revision to every replica), then served here at once.
// Nothing is stored unless every check passed; nothing is served unless it
// was stored.
func (s *Server) saveConfigDB(ctx context.Context, text []byte, base string, who identity.Identity) (hash string, unchanged bool, err error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	snap, err := s.checkConfig(ctx, text, who, s.log)
	if err != nil {
		var restart *RestartRequiredError
		var lockout *AdminLockoutError
		var invalid policy.Errors
		switch {
		case errors.As(err, &restart):
			s.metrics.countReload("refused")
		case !errors.As(err, &lockout) && !errors.As(err, &invalid):
			s.metrics.countReload("failed")
		}
		return "", false, err
	}
	rev, same, err := s.opts.ConfigDB.Save(ctx, text, base, who.Login)
	var stale *cluster.StaleError
	switch {
	case errors.As(err, &stale):
		return "", false, &StaleHashError{Current: stale.Current}
	case err != nil:
		s.metrics.countReload("failed")
		return "", false, fmt.Errorf("storing the configuration in the database: %w; nothing was changed", err)
	}
	prev := s.state.Load()
	if rev.Number <= prev.revision {
		s.metrics.countReload("unchanged")
		return rev.Hash, true, nil
	}
	snap.revision = rev.Number
	s.state.Store(snap)
	s.clearFailed(rev.Number)
	s.metrics.countReload("applied")
	s.log.Info("configuration saved through the config API as a new revision and applied", "revision", rev.Number,
		"by", who.Login, "policy_revision", snap.engine.Revision())
	return rev.Hash, same, nil
}

// readConfigDB is readConfig with --config-source db: the stored newest
// revision, whose hash a save must send back. When the database cannot be
// read, the running configuration is shown (with its hash, so a save
// based on it still succeeds if nothing newer was stored).
func (s *Server) readConfigDB(ctx context.Context) configText {
	ctx, cancel := context.WithTimeout(ctx, replicasTimeout)
	defer cancel()
	rev, err := s.opts.ConfigDB.Current(ctx)
	if err != nil {
		s.log.Warn("reading the stored configuration; showing the running one", "err", err)
		raw := s.state.Load().cfg.Raw
		return configText{text: raw, exists: true, hash: configHash(raw)}
	}
	return configText{text: rev.Text, exists: true, hash: rev.Hash}
}

// ConfigDBName is the name problems of a stored configuration are located
// in ("database:12:5: ..."), as a file's name is for a file.
const ConfigDBName = "database"
