package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluice-gateway/sluice/compat"
	"github.com/sluice-gateway/sluice/compat/gcpauth"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy"
	"github.com/sluice-gateway/sluice/store"
)

const doctorUsage = `Usage:
  sluice doctor [--config FILE] [--state-dir DIR] [--db DSN] [--timeout 10s]

Checks what serve would need and prints a table of what works: the
configuration, each provider's base URL and key (one cheap authenticated
call: listing models; Bedrock's ListFoundationModels; for Vertex, a token
minted from the service-account key, then a listing with it), the request
log database and the tailnet node's state. Exit 0 when nothing failed, 1 otherwise.

Flags:
`

// check is one row of doctor's table.
type check struct {
	what, status, detail string
}

const (
	checkOK      = "ok"
	checkFail    = "FAIL"
	checkSkipped = "skipped"
)

func runDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "configuration file (HuJSON); the embedded default when empty")
	stateDir := fs.String("state-dir", defaultStateDir(), "serve's --state-dir")
	db := fs.String("db", "", "serve's --db (default: sluice.db in --state-dir)")
	timeout := fs.Duration("timeout", 10*time.Second, "time allowed for each provider call")
	fs.Usage = func() {
		fmt.Fprint(stderr, doctorUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sluice doctor: takes no arguments, got %q\n", fs.Args())
		return 2
	}
	var checks []check
	cfg, err := loadConfig(ctx, *config, stderr)
	if err != nil {
		printLoadError(stderr, err)
		checks = append(checks, check{"config", checkFail, "does not load (errors above)"})
	} else {
		src := "embedded default"
		if *config != "" {
			src = *config
		}
		checks = append(checks, check{"config", checkOK, fmt.Sprintf("%s: %d providers, %d warnings", src, len(cfg.Providers), len(cfg.Warnings))})
		client := &http.Client{Timeout: *timeout}
		for _, p := range cfg.Providers {
			checks = append(checks, checkProvider(ctx, client, p))
		}
	}
	checks = append(checks, checkDatabase(ctx, *db, *stateDir, cfg))
	checks = append(checks, checkTailnetState(*stateDir))

	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tSTATUS\tDETAIL")
	failed := false
	for _, c := range checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.what, c.status, c.detail)
		failed = failed || c.status == checkFail
	}
	tw.Flush()
	if failed {
		return 1
	}
	return 0
}

// modelsPath is the cheap authenticated call that lists a provider's
// models, by the API it speaks; "" for Vertex, which checkVertex checks.
func modelsPath(p *policy.Provider) (path string, header http.Header) {
	header = http.Header{}
	switch {
	case p.Compatibility.Supports("google_generate_content"), p.Compatibility.Supports("google_raw_predict"):
		return "", nil
	case p.Authorization == policy.AuthXGoogAPIKey || p.Compatibility.Supports("gemini_generate_content"):
		return "/v1beta/models", header
	case p.Authorization == policy.AuthXAPIKey || p.Compatibility.Supports("anthropic_messages"):
		header.Set("anthropic-version", "2023-06-01")
		return "/v1/models", header
	}
	return "/v1/models", header
}

// checkProvider makes one cheap authenticated call with p's key, as serve
// would send it: listing models (OpenAI, Anthropic, Gemini and the APIs
// like them), Bedrock's ListFoundationModels, or for Vertex a token
// minted from the service-account key and a listing with it. It says ok,
// the key refused, or the provider unreachable and why. Neither the key
// nor the URL's credentials appear in the result.
func checkProvider(ctx context.Context, client *http.Client, p *policy.Provider) check {
	what := "provider " + p.ID
	switch {
	case p.Disabled:
		return check{what, checkSkipped, "disabled"}
	case p.Tailnet:
		return check{what, checkSkipped, "reached over the tailnet: check it from the running gateway"}
	case isPlaceholderKey(p.APIKey):
		return check{what, checkFail, fmt.Sprintf("placeholder API key %q", p.APIKey)}
	case gcpauth.IsKeyfile(p.APIKey):
		return checkVertex(ctx, client, p)
	}
	header := http.Header{}
	var target, path string
	if isBedrock(p) {
		u, err := bedrockModelsURL(p.BaseURL)
		if err != nil {
			return check{what, checkFail, err.Error()}
		}
		target, path = u, "ListFoundationModels"
	} else {
		path, header = modelsPath(p)
		if path == "" {
			return check{what, checkSkipped, "Vertex without a service-account key: no call to check it with"}
		}
		target = strings.TrimSuffix(p.BaseURL, "/") + path
	}
	if err := compat.SetAuth(header, p.Authorization, p.APIKey); err != nil {
		return check{what, checkFail, err.Error()}
	}
	c := listCall(ctx, client, what, target, header, p.APIKey != "")
	if c.status == checkOK {
		c.detail = fmt.Sprintf("key accepted, models listed (%s)", path)
	}
	return c
}

// listCall GETs target with header and sorts the answer: 2xx ok, 401 and
// 403 a refused (or missing) key, anything else a failure with its status.
func listCall(ctx context.Context, client *http.Client, what, target string, header http.Header, hasKey bool) check {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return check{what, checkFail, "base URL is not usable"}
	}
	req.Header = header
	resp, err := client.Do(req)
	if err != nil {
		return check{what, checkFail, "unreachable: " + unreachableDetail(err)}
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		if !hasKey {
			return check{what, checkFail, fmt.Sprintf("no API key configured; the provider answered %d", resp.StatusCode)}
		}
		return check{what, checkFail, fmt.Sprintf("API key rejected (%d)", resp.StatusCode)}
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return check{what, checkOK, "ok"}
	}
	return check{what, checkFail, fmt.Sprintf("listing answered %d", resp.StatusCode)}
}

// unreachableDetail says why a call got no answer: DNS, refused, TLS,
// timeout; never a URL's credentials.
func unreachableDetail(err error) string {
	reason := proxy.UnreachableReason(err)
	var ne interface{ Timeout() bool }
	if reason == "" && errors.As(err, &ne) && ne.Timeout() {
		reason = "timeout"
	}
	if reason == "" {
		reason = "could not be reached"
	}
	return reason
}

// checkDatabase opens the request log as serve would and reads one row,
// without creating a SQLite file that is not there yet.
func checkDatabase(ctx context.Context, dsn, stateDir string, cfg *policy.Config) check {
	if dsn == "" {
		dsn = filepath.Join(stateDir, "sluice.db")
		if _, err := os.Stat(dsn); errors.Is(err, os.ErrNotExist) {
			return check{"database", checkSkipped, redactDSN(dsn) + " does not exist yet; serve creates it"}
		}
	}
	opts := store.Options{}
	if cfg != nil {
		opts.EncryptBlobs = cfg.Database.KeepEncryptedBlobs
	}
	keys, err := store.KeyringFromEnv(os.Getenv)
	if err != nil {
		return check{"database", checkFail, err.Error()}
	}
	opts.Keys = keys
	st, err := store.Open(ctx, dsn, opts)
	if err != nil {
		return check{"database", checkFail, redactDSN(dsn) + ": " + err.Error()}
	}
	defer st.Close()
	page, err := st.Requests(ctx, store.Filter{}, store.Page{Limit: 1})
	if err != nil {
		return check{"database", checkFail, redactDSN(dsn) + ": " + err.Error()}
	}
	return check{"database", checkOK, fmt.Sprintf("%s readable (%d rows in the first page)", redactDSN(dsn), len(page.Records))}
}

// checkTailnetState says whether --tailnet would start as a known node or
// need TS_AUTHKEY, without joining the tailnet.
func checkTailnetState(stateDir string) check {
	dir := filepath.Join(stateDir, "tailnet")
	entries, err := os.ReadDir(dir)
	switch {
	case err == nil && len(entries) > 0:
		return check{"tailnet", checkOK, "node state in " + dir + "; --tailnet starts as that node"}
	case os.Getenv("TS_AUTHKEY") != "":
		return check{"tailnet", checkOK, "no node state yet; TS_AUTHKEY is set for the first --tailnet start"}
	}
	return check{"tailnet", checkSkipped, "no node state and no TS_AUTHKEY: --tailnet would print a login URL (local mode needs neither)"}
}
