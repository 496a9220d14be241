package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/rego"
)

const bundleSynopsis = "sluice policy bundle [--config FILE] [--policy DIR] --out bundle.tar.gz"

func init() { policySynopsis["bundle"] = bundleSynopsis }

// policyBundle writes the compiled policy as an OPA bundle whose manifest
// carries the policy revision sluice reports for it (decision logs,
// request records), so a bundle service can serve exactly what a gateway
// enforces.
func policyBundle(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := newPolicyFlags("bundle", stderr)
	out := f.fs.String("out", "", "bundle file to write (tar.gz)")
	pos, err := f.parse(args)
	if err != nil {
		return flagExit(err)
	}
	if *out == "" || len(pos) > 0 {
		fmt.Fprintln(stderr, "sluice policy bundle: need --out FILE and no arguments")
		return 2
	}
	cfg, own, err := f.load(ctx, stderr)
	if err != nil {
		printLoadError(stderr, err)
		return 1
	}
	eng, err := engine.New(ctx, cfg, engine.WithModules(own...))
	if err != nil {
		printLoadError(stderr, err)
		return 1
	}
	mods, err := rego.Modules(cfg)
	if err != nil {
		printLoadError(stderr, err)
		return 1
	}
	mods = append(mods, rego.Exported(f.policyDir, own)...)
	var buf bytes.Buffer
	if err := rego.WriteBundle(&buf, eng.Revision(), mods); err != nil {
		fmt.Fprintf(stderr, "sluice policy bundle: %v\n", err)
		return 1
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		fmt.Fprintf(stderr, "sluice policy bundle: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote bundle %s (revision %s, %d modules)\n", *out, eng.Revision(), len(mods))
	return 0
}

// bundleFetchTimeout bounds fetching --policy-bundle from a URL.
const bundleFetchTimeout = 30 * time.Second

// loadPolicyBundle reads serve's --policy-bundle: an http(s) URL or a
// file. It returns the user's modules in it and its revision.
func loadPolicyBundle(ctx context.Context, src string) ([]rego.Module, string, error) {
	if !strings.HasPrefix(src, "http://") && !strings.HasPrefix(src, "https://") {
		fh, err := os.Open(src)
		if err != nil {
			return nil, "", fmt.Errorf("policy bundle: %w", err)
		}
		defer fh.Close()
		return rego.ReadBundle(fh, src)
	}
	ctx, cancel := context.WithTimeout(ctx, bundleFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return nil, "", fmt.Errorf("policy bundle: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("policy bundle: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("policy bundle %s: %s", src, resp.Status)
	}
	return rego.ReadBundle(io.LimitReader(resp.Body, rego.MaxBundleBytes), src)
}

// policyBundleOption reads serve's --policy-bundle and returns the engine
// option that adds its modules. A bundle URL is fetched once, at start; a
// bundle file is read again whenever the policy is rebuilt (a SIGHUP
// reload, a save through the config API), and a new revision is logged.
func policyBundleOption(ctx context.Context, src string, log *slog.Logger) (engine.Option, error) {
	mods, rev, err := loadPolicyBundle(ctx, src)
	if err != nil {
		return nil, err
	}
	log.Info("policy bundle", "source", redactURL(src), "revision", rev, "modules", len(mods))
	if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
		return engine.WithModules(mods...), nil
	}
	var mu sync.Mutex
	last := rev
	return engine.WithModuleSource(func() ([]rego.Module, error) {
		mods, rev, err := loadPolicyBundle(context.Background(), src)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		if rev != last {
			last = rev
			log.Info("policy bundle", "source", src, "revision", rev, "modules", len(mods))
		}
		return mods, nil
	}), nil
}

// redactURL hides a password in a bundle URL for the log.
func redactURL(src string) string {
	if u, err := url.Parse(src); err == nil && u.User != nil {
		return u.Redacted()
	}
	return src
}
