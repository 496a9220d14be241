package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/cover"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/lineage"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/rego"
)

const policyUsage = `Usage:
  sluice policy export --config FILE --out DIR [--policy DIR]
        write the compiled policy (generated grants, library, your modules)
        so that the stock "opa test DIR yourtests/" runs against it
  sluice policy test [--config FILE] [--policy DIR] [-v] [--coverage] [--run RE] DIR...
        run the Rego tests in DIR... against the compiled policy, as "opa test"
  sluice policy eval [--config FILE] [--policy DIR] --user LOGIN --model M
                     [--provider P] [--format F] [--tags tag:a,tag:b] [--caps FILE]
        print the decision for one request and why, as JSON; --caps names
        a WhoIs CapMap (JSON) whose "tailscale.com/cap/aperture" grants
        from the tailnet policy file are unioned with the config's
  sluice policy replay --config NEW [--policy DIR] [--since 7d] [--db DSN|PATH] [--json]
        decide the recorded requests again under a candidate policy and
        list who gains or loses which model (exit 0: no change, 1: changes)
  sluice policy bundle [--config FILE] [--policy DIR] --out bundle.tar.gz
        write the compiled policy as an OPA bundle with its revision
  sluice policy matrix [--config FILE] [--policy DIR] [--json]
        print every class of callers the grants tell apart (each login,
        domain, tag and group named in src, and anyone else), its role and
        the provider/model pairs the compiled policy allows it, with the
        grants that do
  sluice policy diff [--policy DIR] [--json] OLD.hujson NEW.hujson
        print who gains and who loses which roles and models from OLD to
        NEW; exit 0 when equal, 1 when different, 2 on errors

Without --config the embedded default configuration is used.
`

// policySynopsis is each policy subcommand's usage line, for its -h.
var policySynopsis = map[string]string{
	"export": "sluice policy export --config FILE --out DIR [--policy DIR]",
	"test":   "sluice policy test [--config FILE] [--policy DIR] [-v] [--coverage] [--run RE] DIR...",
	"eval":   "sluice policy eval [--config FILE] [--policy DIR] --user LOGIN --model M [--provider P] [--format F] [--tags tag:a,tag:b] [--caps FILE]",
}

// runPolicy runs `sluice policy ...` and returns the exit code.
func runPolicy(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, policyUsage)
		return 2
	}
	switch args[0] {
	case "export":
		return policyExport(ctx, args[1:], stdout, stderr)
	case "test":
		return policyTest(ctx, args[1:], stdout, stderr)
	case "eval":
		return policyEval(ctx, args[1:], stdout, stderr)
	case "replay":
		return policyReplay(ctx, args[1:], stdout, stderr)
	case "bundle":
		return policyBundle(ctx, args[1:], stdout, stderr)
	case "matrix":
		return policyMatrix(ctx, args[1:], stdout, stderr)
	case "diff":
		return policyDiff(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, policyUsage)
		return 0
	}
	unknownCommand(stderr, "sluice policy", args[0], []string{"export", "test", "eval", "replay", "bundle", "matrix", "diff", "help"}, policyUsage)
	return 2
}

// policyFlags are the flags the policy subcommands share.
type policyFlags struct {
	fs        *flag.FlagSet
	config    string
	policyDir string
}

func newPolicyFlags(name string, stderr io.Writer) *policyFlags {
	f := &policyFlags{fs: flag.NewFlagSet("policy "+name, flag.ContinueOnError)}
	f.fs.SetOutput(stderr)
	f.fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage:\n  %s\n\nFlags:\n", policySynopsis[name])
		f.fs.PrintDefaults()
		fmt.Fprintln(stderr, "\nWithout --config the embedded default configuration is used.")
	}
	f.fs.StringVar(&f.config, "config", "", "configuration file (HuJSON); the embedded default when empty")
	f.fs.StringVar(&f.policyDir, "policy", "", "directory of your own Rego modules, as for sluice serve --policy")
	return f
}

// parse parses flags wherever they stand among the positional arguments
// (`policy test dir -v` works as `policy test -v dir` does).
func (f *policyFlags) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := f.fs.Parse(args); err != nil {
			return nil, err
		}
		rest := f.fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// load loads the configuration and the user's modules.
func (f *policyFlags) load(ctx context.Context, stderr io.Writer) (*policy.Config, []rego.Module, error) {
	cfg, err := loadConfig(ctx, f.config, stderr)
	if err != nil {
		return nil, nil, err
	}
	var own []rego.Module
	if f.policyDir != "" {
		if own, err = rego.ReadDir(f.policyDir); err != nil {
			return nil, nil, err
		}
	}
	return cfg, own, nil
}

func policyExport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := newPolicyFlags("export", stderr)
	out := f.fs.String("out", "", "directory to write the policy to (created if needed)")
	pos, err := f.parse(args)
	if err != nil {
		return flagExit(err)
	}
	if *out == "" || len(pos) > 0 {
		fmt.Fprintln(stderr, "sluice policy export: need --out DIR and no arguments")
		return 2
	}
	cfg, own, err := f.load(ctx, stderr)
	if err != nil {
		printLoadError(stderr, err)
		return 1
	}
	// Compile everything (Rego and hook conditions) as serve would, so a
	// policy that cannot run is never exported.
	if _, err := engine.New(ctx, cfg, engine.WithModules(own...)); err != nil {
		printLoadError(stderr, err)
		return 1
	}
	mods, err := rego.Modules(cfg)
	if err != nil {
		printLoadError(stderr, err)
		return 1
	}
	mods = append(mods, rego.Exported(f.policyDir, own)...)
	if err := rego.Export(*out, mods); err != nil {
		printLoadError(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "exported %d modules to %s\n", len(mods), *out)
	return 0
}

func policyTest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := newPolicyFlags("test", stderr)
	verbose := f.fs.Bool("v", false, "verbose: print every test, with notes and failures traced")
	coverage := f.fs.Bool("coverage", false, "report coverage as JSON (as opa test --coverage)")
	run := f.fs.String("run", "", "run only the tests matching this regular expression")
	timeout := f.fs.Duration("timeout", 5*time.Second, "time allowed for each test")
	dirs, err := f.parse(args)
	if err != nil {
		return flagExit(err)
	}
	if len(dirs) == 0 {
		fmt.Fprintln(stderr, "specify at least one file")
		return 1
	}
	cfg, own, err := f.load(ctx, stderr)
	if err != nil {
		printLoadError(stderr, err)
		return 1
	}
	mods, err := rego.Modules(cfg)
	if err != nil {
		printLoadError(stderr, err)
		return 1
	}
	popts := ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true}
	modules := make(map[string]*ast.Module)
	for _, m := range append(mods, own...) {
		parsed, err := ast.ParseModuleWithOpts(m.Name, string(m.Text), popts)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		modules[m.Name] = parsed
	}
	loaded, store, err := tester.LoadWithParserOptions(dirs, nil, popts)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	for name, m := range loaded {
		if isExportedCopy(name, m) {
			continue // an earlier export of this policy in a test directory
		}
		if _, dup := modules[name]; dup {
			fmt.Fprintf(stderr, "%s: a test file has the name of a policy module\n", name)
			return 1
		}
		modules[name] = m
	}

	txn, err := store.NewTransaction(ctx, storage.WriteParams)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer store.Abort(ctx, txn)

	compiler := ast.NewCompiler().
		WithPathConflictsCheck(storage.NonEmpty(ctx, store, txn)).
		WithEnablePrintStatements(true).
		WithCapabilities(ast.CapabilitiesForThisVersion()).
		WithUseTypeCheckAnnotations(true)
	var cov *cover.Cover
	runner := tester.NewRunner().
		SetCompiler(compiler).
		SetStore(store).
		CapturePrintOutput(true).
		EnableTracing(*verbose).
		StackTraces(true).
		SetModules(modules).
		SetTimeout(*timeout).
		Filter(*run).
		SetParallel(runtime.NumCPU())
	var reporter tester.Reporter = tester.PrettyReporter{Verbose: *verbose, Output: stdout}
	if *coverage {
		cov = cover.New()
		runner = runner.SetCoverageQueryTracer(cov)
		reporter = tester.JSONCoverageReporter{Cover: cov, Modules: modules, Output: stdout, Verbose: *verbose}
	}
	ch, err := runner.RunTests(ctx, txn)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	exit := 0
	results := make(chan *tester.Result)
	go func() {
		defer close(results)
		for r := range ch {
			if !r.Pass() {
				exit = 2
			}
			if *verbose {
				r.Trace = failsAndNotes(r)
			}
			results <- r
		}
	}()
	if err := reporter.Report(results); err != nil {
		fmt.Fprintln(stderr, err)
		if _, ok := errors.AsType[*cover.CoverageThresholdError](err); ok {
			return 2
		}
		return 1
	}
	return exit
}

// failsAndNotes keeps what `opa test -v` shows of a trace: notes and
// failures, with the lines that lead to them.
func failsAndNotes(r *tester.Result) []*topdown.Event {
	return lineage.Filter(r.Trace, func(e *topdown.Event) bool {
		return e.Op == topdown.NoteOp || e.Op == topdown.FailOp
	})
}

// isExportedCopy reports whether a module loaded from a test directory is
// a copy of the generated grants or of the library, as an export leaves.
func isExportedCopy(name string, m *ast.Module) bool {
	pkg := m.Package.Path.String()
	if pkg != "data.sluice.grants" && pkg != "data.sluice.authz" {
		return false
	}
	text, err := os.ReadFile(name)
	return err == nil && rego.IsGenerated(text)
}

func policyEval(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := newPolicyFlags("eval", stderr)
	user := f.fs.String("user", "", "the caller's login")
	model := f.fs.String("model", "", "the model asked for")
	provider := f.fs.String("provider", "", "the provider; default: the first one serving the model that allows it, as routing does")
	format := f.fs.String("format", "", "the request's API format (openai_chat, anthropic_messages, ...)")
	tags := f.fs.String("tags", "", "the caller's device tags, comma-separated (tag:ci,tag:prod)")
	nodeID := f.fs.String("node-id", "", "the caller's stable node ID")
	capsFile := f.fs.String("caps", "", "a JSON file holding the caller's WhoIs CapMap (tailnet policy file grants)")
	pos, err := f.parse(args)
	if err != nil {
		return flagExit(err)
	}
	if *user == "" && *tags == "" || *model == "" || len(pos) > 0 {
		fmt.Fprintln(stderr, "sluice policy eval: need --user (or --tags) and --model, and no arguments")
		return 2
	}
	caps, err := readCaps(*capsFile)
	if err != nil {
		fmt.Fprintln(stderr, "sluice policy eval:", err)
		return 1
	}
	cfg, own, err := f.load(ctx, stderr)
	if err != nil {
		printLoadError(stderr, err)
		return 1
	}
	eng, err := engine.New(ctx, cfg, engine.WithModules(own...), engine.WithCacheSize(0))
	if err != nil {
		printLoadError(stderr, err)
		return 1
	}
	// The model is routed as serve routes it: force_model, then
	// model_aliases, then provider:model.
	target, err := cfg.Resolve(*model, "")
	if err != nil {
		fmt.Fprintln(stderr, "sluice policy eval:", err)
		return 1
	}
	if *provider == "" {
		*provider = target.Provider
	}
	*model = target.Model
	in := engine.Input{
		User:    engine.User{Login: *user, NodeID: *nodeID, Tags: splitList(*tags)},
		Request: engine.Request{Provider: *provider, Model: *model, Format: *format, RequestedModel: target.Requested},
		Caps:    caps,
	}
	x, candidates, err := eng.ExplainRoute(ctx, in)
	switch {
	case errors.Is(err, engine.ErrNoProvider):
		fmt.Fprintf(stderr, "sluice policy eval: no provider serves model %q%s; name one with --provider\n", *model, formatNote(*format))
		return 1
	case err != nil:
		fmt.Fprintln(stderr, "sluice policy eval:", err)
		return 1
	}
	out := evalOutput{Explanation: x, Candidates: candidates}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// evalOutput is what `sluice policy eval` prints: the explanation of the
// decision and, when routing chose the provider, the providers considered
// in order.
type evalOutput struct {
	engine.Explanation
	Candidates []string `json:"candidates,omitempty"`
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func formatNote(format string) string {
	if format == "" {
		return ""
	}
	return " in format " + format
}
