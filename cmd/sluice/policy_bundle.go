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

// bundleFetchTimeout bounds fetching --policy-bundle from a URL at start;
// bundleRefetchTimeout bounds fetching it again for a rebuild, which a
// config save waits for.
const (
	bundleFetchTimeout   = 30 * time.Second
	bundleRefetchTimeout = 10 * time.Second
)

// isBundleURL reports whether --policy-bundle names a URL, not a file.
func isBundleURL(src string) bool {
	return strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://")
}

// loadPolicyBundle reads serve's --policy-bundle: an http(s) URL or a
// file. It returns the user's modules in it and its revision.
func loadPolicyBundle(ctx context.Context, src string) ([]rego.Module, string, error) {
	if !isBundleURL(src) {
		fh, err := os.Open(src)
		if err != nil {
			return nil, "", fmt.Errorf("policy bundle: %w", err)
		}
		defer fh.Close()
		return rego.ReadBundle(fh, src)
	}
	b, err := fetchBundle(ctx, src, bundleFetchTimeout, "")
	if err != nil {
		return nil, "", err
	}
	return b.mods, b.rev, nil
}

// fetchedBundle is a bundle read from a URL, with the entity tag its
// server gave it (if any).
type fetchedBundle struct {
	mods []rego.Module
	rev  string
	etag string
	// unchanged: the server answered 304 Not Modified to etag.
	unchanged bool
}

// fetchBundle GETs the bundle at src within timeout. With etag set it asks
// for the bundle only if it changed, and reports an unchanged one without
// reading it again.
func fetchBundle(ctx context.Context, src string, timeout time.Duration, etag string) (fetchedBundle, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return fetchedBundle{}, fmt.Errorf("policy bundle: %w", err)
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fetchedBundle{}, fmt.Errorf("policy bundle: %w", err)
	}
	defer resp.Body.Close()
	if etag != "" && resp.StatusCode == http.StatusNotModified {
		return fetchedBundle{etag: etag, unchanged: true}, nil
	}
	if resp.StatusCode != http.StatusOK {
		return fetchedBundle{}, fmt.Errorf("policy bundle %s: %s", redactURL(src), resp.Status)
	}
	mods, rev, err := rego.ReadBundle(io.LimitReader(resp.Body, rego.MaxBundleBytes), redactURL(src))
	if err != nil {
		return fetchedBundle{}, err
	}
	return fetchedBundle{mods: mods, rev: rev, etag: resp.Header.Get("ETag")}, nil
}

// policyBundleOption reads serve's --policy-bundle and returns the engine
// option that adds its modules, read again whenever the policy is rebuilt
// (a SIGHUP reload, a save through the config API); a new revision is
// logged. A file that cannot be read fails the rebuild, which keeps the
// running policy, as a broken configuration does. A URL that cannot be
// fetched then (the bundle server down, an answer that is no bundle) does
// not: the rebuild keeps the bundle last fetched, with a warning, so that
// an outage of the bundle server does not hold back configuration
// changes. Its modules, once fetched, still compile with the rest or the
// rebuild fails.
func policyBundleOption(ctx context.Context, src string, log *slog.Logger) (engine.Option, error) {
	if !isBundleURL(src) {
		mods, rev, err := loadPolicyBundle(ctx, src)
		if err != nil {
			return nil, err
		}
		log.Info("policy bundle", "source", src, "revision", rev, "modules", len(mods))
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
	last, err := fetchBundle(ctx, src, bundleFetchTimeout, "")
	if err != nil {
		return nil, err
	}
	log.Info("policy bundle", "source", redactURL(src), "revision", last.rev, "modules", len(last.mods))
	// Every build fetches it again, the first ones at start too: with an
	// entity tag from the server, a bundle that did not change is not
	// sent again.
	var mu sync.Mutex
	return engine.WithModuleSource(func() ([]rego.Module, error) {
		mu.Lock()
		defer mu.Unlock()
		b, err := fetchBundle(context.Background(), src, bundleRefetchTimeout, last.etag)
		switch {
		case err != nil:
			log.Warn("policy bundle not fetched again; keeping the last one", "source", redactURL(src),
				"revision", last.rev, "error", err)
		case b.unchanged:
		default:
			if b.rev != last.rev {
				log.Info("policy bundle", "source", redactURL(src), "revision", b.rev, "modules", len(b.mods))
			}
			last = b
		}
		return last.mods, nil
	}), nil
}

// redactURL hides a password in a bundle URL for the log.
func redactURL(src string) string {
	if u, err := url.Parse(src); err == nil && u.User != nil {
		return u.Redacted()
	}
	return src
}
