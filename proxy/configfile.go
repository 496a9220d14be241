package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy/identity"
)

// ErrNoConfigFile refuses to save a configuration when sluice serves its
// embedded default: no file was given, so none is written (writing one
// somewhere sluice was never told about would be lost on the next start).
var ErrNoConfigFile = errors.New("sluice is serving its embedded default configuration, so there is no file to save to: " +
	"write it to a file (sluice config default > sluice.hujson) and start sluice with --config sluice.hujson to edit it here")

// StaleHashError refuses a save based on a configuration that has changed
// since it was read: another admin saved, or someone edited the file.
type StaleHashError struct {
	// Current is the hash of the configuration as it is now.
	Current string
}

func (e *StaleHashError) Error() string {
	return "the configuration changed since it was read (another admin saved it, or the file was edited): " +
		"reload it, reapply your change and save again; nothing was changed"
}

// AdminLockoutError refuses a configuration that would take the admin role
// away from the admin saving it, who could then no longer undo the change
// from the dashboard.
type AdminLockoutError struct {
	Login string
	// Role is the role the new configuration gives them.
	Role string
}

func (e *AdminLockoutError) Error() string {
	return fmt.Sprintf("this configuration would take the admin role away from %s, who is saving it (they would have role %q): "+
		"keep a grant that makes them admin, or let another admin save it; nothing was changed", e.Login, e.Role)
}

// configText is the configuration as the config API shows it.
type configText struct {
	text []byte
	// exists is false when the text is not a file's: the embedded default,
	// or a configuration file removed since it was loaded.
	exists bool
	hash   string
}

// configHash is the hash that GET /api/config returns and PUT /api/config
// expects back: hex SHA-256 of the text.
func configHash(text []byte) string {
	sum := sha256.Sum256(text)
	return hex.EncodeToString(sum[:])
}

// readConfig returns the configuration file's text, or the running
// configuration's when there is no file. The file, not the running
// configuration, is what a save replaces, so its hash is the one a save
// must match: an edit on disk not yet reloaded is not silently overwritten.
func (s *Server) readConfig() (configText, error) {
	if s.opts.ConfigDB != nil {
		return s.readConfigDB(context.Background()), nil
	}
	if s.opts.ConfigFile != "" {
		text, err := os.ReadFile(s.opts.ConfigFile)
		if err == nil {
			return configText{text: text, exists: true, hash: configHash(text)}, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return configText{}, err
		}
	}
	raw := s.state.Load().cfg.Raw
	return configText{text: raw, hash: configHash(raw)}, nil
}

// configName is the name configuration problems are located in: the file
// name, as `sluice config validate FILE` prints it.
func (s *Server) configName() string {
	if s.opts.ConfigDB != nil {
		return ConfigDBName
	}
	if s.opts.ConfigFile != "" {
		return s.opts.ConfigFile
	}
	return policy.DefaultFile
}

// checkConfig runs every check a save runs, changing nothing: it loads text
// as serve loads its file (macros from the environment), refuses settings
// only a restart applies, builds the whole new state aside (Rego compiled
// with the running engine's options, so with the --policy modules; CEL
// conditions compiled and test-run), and makes sure the caller who saves
// it keeps the admin role. It returns the state ready to swap in.
func (s *Server) checkConfig(ctx context.Context, text []byte, who identity.Identity, log *slog.Logger) (*snapshot, error) {
	cfg, err := policy.Parse(s.configName(), text, nil)
	if err != nil {
		return nil, err
	}
	prev := s.state.Load()
	if err := needsRestart(prev.cfg, cfg); err != nil {
		return nil, err
	}
	opts := s.opts
	opts.Logger = log
	snap, err := newSnapshot(ctx, cfg, opts, prev)
	if err != nil {
		return nil, err
	}
	if err := keepsAdmin(ctx, snap.engine, who); err != nil {
		return nil, err
	}
	return snap, nil
}

// keepsAdmin checks that eng makes who an admin. It asks with Explain,
// which neither reads the decision cache nor writes the decision log: this
// is no request.
func keepsAdmin(ctx context.Context, eng *engine.Engine, who identity.Identity) error {
	x, err := eng.Explain(ctx, engine.Input{User: policyUser(who), Caps: who.Caps})
	if err != nil {
		return fmt.Errorf("checking that %s stays admin: %w", who.Login, err)
	}
	if !x.Decision.Admin {
		return &AdminLockoutError{Login: who.Login, Role: x.Decision.Role}
	}
	return nil
}

// saveConfig replaces the configuration file with text and serves it, or
// changes nothing. base is the hash of the configuration the caller edited
// (StaleHashError when it is no longer the file's); who is the admin
// saving it, who must stay admin.
//
// The order makes the file and the running configuration agree whatever
// fails. Everything that can fail for the configuration's sake happens
// first, with the new state built aside; then the file is written
// atomically (a temporary file renamed over it), and a failed write
// leaves both the old file and the old state; last, the state is swapped,
// which is one pointer store and cannot fail. The reverse order (swap,
// then write) would, on a failed write, serve a configuration no file
// holds, which the next SIGHUP or restart would silently undo. All of it
// runs under reloadMu, which ReloadFile holds while it reads the file, so
// no reload can slip between the write and the swap.
func (s *Server) saveConfig(ctx context.Context, text []byte, base string, who identity.Identity) (hash string, unchanged bool, err error) {
	if s.opts.ConfigDB != nil {
		return s.saveConfigDB(ctx, text, base, who)
	}
	if s.opts.ConfigFile == "" {
		return "", false, ErrNoConfigFile
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	cur, err := s.readConfig()
	if err != nil {
		return "", false, fmt.Errorf("reading %s: %w; nothing was changed", s.opts.ConfigFile, err)
	}
	if cur.hash != base {
		return "", false, &StaleHashError{Current: cur.hash}
	}
	snap, err := s.checkConfig(ctx, text, who, s.log)
	var restart *RestartRequiredError
	switch {
	case errors.As(err, &restart):
		s.metrics.countReload("refused")
		return "", false, err
	case err != nil:
		var lockout *AdminLockoutError
		var invalid policy.Errors
		if !errors.As(err, &lockout) && !errors.As(err, &invalid) {
			s.metrics.countReload("failed")
		}
		return "", false, err
	}
	if err := writeFileAtomic(s.opts.ConfigFile, text); err != nil {
		s.metrics.countReload("failed")
		return "", false, fmt.Errorf("writing %s: %w; nothing was changed", s.opts.ConfigFile, err)
	}
	prev := s.state.Load()
	if bytes.Equal(prev.cfg.Raw, snap.cfg.Raw) && snap.engine.Revision() == prev.engine.Revision() {
		s.metrics.countReload("unchanged")
		return configHash(text), true, nil
	}
	s.state.Store(snap)
	s.metrics.countReload("applied")
	s.log.Info("configuration saved through the config API and applied", "file", s.opts.ConfigFile, "by", who.Login,
		"revision", snap.engine.Revision())
	return configHash(text), false, nil
}

// writeFileAtomic replaces the file at path with data so that readers see
// the old or the new text, never a mix, also across a crash: a temporary
// file in the same directory, with the old file's permissions, synced and
// renamed over it. A path that is a symbolic link is followed, so the link
// stays and its target is replaced.
func writeFileAtomic(path string, data []byte) (err error) {
	target, err := filepath.EvalSymlinks(path)
	if errors.Is(err, fs.ErrNotExist) {
		target, err = path, nil
	}
	if err != nil {
		return err
	}
	mode := fs.FileMode(0o600)
	if fi, err := os.Stat(target); err == nil {
		mode = fi.Mode().Perm()
	}
	dir := filepath.Dir(target)
	f, err := os.CreateTemp(dir, "."+filepath.Base(target)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(mode); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), target); err != nil {
		return err
	}
	// The rename is durable once the directory is synced; a failure here
	// leaves the new file in place, so it is not reported.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
