// Package engine evaluates sluice's access policy with embedded OPA: it
// compiles a configuration's grants (package rego) with the library and any
// modules of the user's own, prepares the queries once per policy revision,
// and answers Decide per request, memoizing answers per revision. It also
// compiles hook grants into CEL programs that decide, per event, whether a
// hook is called. It knows nothing of HTTP.
package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	oparego "github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/rego"
)

// ErrUndefined reports a policy whose decision rules evaluated to nothing,
// which a module of the user's own can cause. It never means allow.
var ErrUndefined = errors.New("policy decision is undefined")

// Engine decides requests against the current policy revision. It is safe
// for concurrent use; Update swaps revisions atomically.
type Engine struct {
	opts options
	cur  atomic.Pointer[revision]
	mu   sync.Mutex // serializes Update
	log  *decisionLog
}

// revision is everything derived from one configuration and module set. It
// is immutable once built, except for its cache.
type revision struct {
	id string
	// modules are the policy's modules as an export lays them out: the
	// generated grants, the library, then the user's own under
	// rego.UserDir.
	modules []rego.Module
	// decides fingerprints everything a decision reads: the compiled
	// modules without their comments, the cache key's fields, and the
	// hooks section's names and disabled flags (required hooks are checked
	// against them). Two revisions with the same fingerprint decide alike,
	// so a reload that only moved grants to other lines, renamed the file
	// or changed a price or a hook URL keeps the cache.
	decides string
	// scope lets a reload that changes some callers' grants keep the
	// others' cached decisions; nil when the policy reads the grants in
	// ways it does not model.
	scope   *grantScope
	cfg     *policy.Config
	decide  oparego.PreparedEvalQuery
	explain oparego.PreparedEvalQuery
	hooks   map[string]*hookProgram // by grant ID
	grants  map[string]*policy.Grant
	caps    map[string]*policy.Capability // capabilities of the grants section, by source
	order   map[string]int                // grant ID -> configuration order
	key     keyFields
	cache   *lru // nil when disabled or when the policy is not cacheable
	// matrixQueries are prepared on first use: serving never needs them.
	matrixQueries func() ([4]oparego.PreparedEvalQuery, error)
	// matrixNarrows is false when the user's modules add to the rules
	// matrix_candidates mirrors, so that it may miss a pair they allow.
	matrixNarrows bool
	prepare       func(query string) (oparego.PreparedEvalQuery, error)
	// connectorQuery is prepared on first use: a gateway without
	// connectors never needs it.
	connectorQuery func() (oparego.PreparedEvalQuery, error)
	// connectorCache memoizes connector decisions apart from model
	// decisions; nil when cache is.
	connectorCache *lru
}

// decisionRules are the rules of package sluice.authz a decision reads.
var decisionRules = []string{
	"role", "admin", "allow", "deny", "read_metrics", "granted", "provider_grants",
	"metrics", "app_grants", "cors", "obligations",
}

// decisionQuery asks for every rule of decisionRules in one array, in
// that order: one result to convert rather than eleven, which OPA wraps
// and hands over one by one (see decisionArrayJSON).
var decisionQuery = func() string {
	refs := make([]string, len(decisionRules))
	for i, name := range decisionRules {
		refs[i] = "data.sluice.authz." + name
	}
	return "decision := [" + strings.Join(refs, ", ") + "]"
}()

// explainQuery binds each rule of decisionRules to its own name, and the
// rules that explain which sources named the caller.
var explainQuery = func() string {
	var b strings.Builder
	for _, name := range decisionRules {
		b.WriteString(name + " := data.sluice.authz." + name + "; ")
	}
	return b.String() + "matched := data.sluice.authz.matched; sources := data.sluice.authz.sources"
}()

// New compiles cfg's policy (grants, library and modules given by options)
// and prepares its queries. A module that does not compile is reported as a
// *CompileError; a bad hook condition, or an assertion of the tests section
// the policy does not satisfy, as policy.Errors.
func New(ctx context.Context, cfg *policy.Config, opts ...Option) (*Engine, error) {
	e := &Engine{opts: defaultOptions()}
	for _, o := range opts {
		o(&e.opts)
	}
	if e.opts.logWriter != nil {
		e.log = &decisionLog{w: e.opts.logWriter}
	}
	rev, err := e.opts.build(ctx, cfg)
	if err != nil {
		return nil, err
	}
	e.cur.Store(rev)
	return e, nil
}

// Update builds a revision for cfg aside and swaps it in. On error the
// running revision stays. A configuration that decides as the current one
// keeps its cached decisions (see Next).
func (e *Engine) Update(ctx context.Context, cfg *policy.Config) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	rev, err := e.opts.build(ctx, cfg)
	if err != nil {
		return err
	}
	rev.keepCache(e.cur.Load())
	e.cur.Store(rev)
	return nil
}

// Next builds an engine for cfg beside e, for a reload: it shares e's
// options and decision log (one writer across reloads, never two), and
// keeps the cached decisions cfg would make alike (all of them when the
// policy means the same, else those of callers whose grants did not
// change; see keepCache). e is left as it is and keeps deciding until the
// caller switches to the new engine; on error nothing changes.
func (e *Engine) Next(ctx context.Context, cfg *policy.Config) (*Engine, error) {
	n, err := e.Draft(ctx, cfg)
	if err != nil {
		return nil, err
	}
	n.cur.Load().keepCache(e.cur.Load())
	return n, nil
}

// Draft builds an engine for cfg beside e as Next does, but with a cache
// of its own from the start: for a configuration that is inspected (a
// policy diff) rather than served, carrying e's decisions over would be
// work for nothing.
func (e *Engine) Draft(ctx context.Context, cfg *policy.Config) (*Engine, error) {
	rev, err := e.opts.build(ctx, cfg)
	if err != nil {
		return nil, err
	}
	n := &Engine{opts: e.opts, log: e.log}
	n.cur.Store(rev)
	return n, nil
}

// keepCache takes over old's cached decisions that r would decide alike:
// all of them when r decides as old does, else those of callers whose
// grants did not change (see grantScope). Entries keep no trace of the
// revision that made them, so this is the one place that lets a decision
// outlive its revision: anything a decision reads must be in the
// fingerprints, or a reload could serve a stale one.
func (r *revision) keepCache(old *revision) {
	if (old.cache == nil) != (r.cache == nil) {
		return
	}
	if old.decides == r.decides {
		r.cache, r.connectorCache = old.cache, old.connectorCache
		return
	}
	if stale := r.scope.changedSince(old.scope); stale != nil {
		keep := func(key string) bool { return !stale.names(key) }
		r.cache.keepFrom(old.cache, keep)
		r.connectorCache.keepFrom(old.connectorCache, keep)
	}
}

// CachedDecisions is how many decisions the running revision holds in its
// cache (0 when the cache is off). After a reload it is how many the
// reload kept.
func (e *Engine) CachedDecisions() int { return e.cur.Load().cache.len() }

// Revision identifies the running policy: a hash of the generated grants,
// the library and the user's modules.
func (e *Engine) Revision() string { return e.cur.Load().id }

// Modules returns the running revision's modules as `sluice policy export`
// lays them out: the generated grants, the library, and the user's own
// modules under rego.UserDir. Together they are the whole policy, ready for
// `opa test`. The caller must not modify them.
func (e *Engine) Modules() []rego.Module { return e.cur.Load().modules }

// Config returns the configuration of the running revision.
func (e *Engine) Config() *policy.Config { return e.cur.Load().cfg }

// Decide evaluates the policy for in. An error always comes with a decision
// that denies.
func (e *Engine) Decide(ctx context.Context, in Input) (d Decision, err error) {
	// Only the observer and the decision log read the clock, and only its
	// monotonic reading (see monoNow): a cached decision is cheaper than
	// the two clock reads of time.Now on some machines.
	timed := e.opts.observe != nil || e.log != nil
	var start time.Duration
	if timed {
		start = monoNow()
	}
	rev := e.cur.Load()
	in.canonicalize()
	var key string
	if rev.cache != nil {
		var buf [256]byte
		kb := in.appendCacheKey(buf[:0], rev.key)
		if cached := rev.cache.lookup(kb); cached != nil {
			// The entry may come from an earlier revision of the same
			// meaning (see Next). d is the result, so the entry is
			// copied once.
			d = *cached
			d.ID, d.Revision = e.opts.newID(), rev.id
			if timed {
				e.hit(rev.id, &in, &d, start)
			}
			return d, nil
		}
		key = string(kb)
	}
	return e.decide(ctx, rev, &in, key, start)
}

// hit logs and observes a decision the cache answered. It is apart from
// Decide so that Decide's frame stays small for the untimed case.
func (e *Engine) hit(rev string, in *Input, d *Decision, start time.Duration) {
	if e.log != nil {
		e.log.write(e.opts.now(), rev, *in, *d, nil, monoTime(start), 0, true)
	}
	if e.opts.observe != nil {
		e.opts.observe(Observation{Allow: d.Allow, Cache: "hit", Duration: monoNow() - start})
	}
}

// monoBase anchors monoNow: time.Since of a time with a monotonic reading
// reads only the monotonic clock, where time.Now reads the wall clock too.
var monoBase = time.Now()

// monoNow is the monotonic clock, as the time since monoBase.
func monoNow() time.Duration { return time.Since(monoBase) }

// monoTime is the time.Time of monoNow's reading t.
func monoTime(t time.Duration) time.Time { return monoBase.Add(t) }

// decide evaluates the policy for in, which is canonical, and memoizes
// the answer under key when the cache is on (key is then not empty).
func (e *Engine) decide(ctx context.Context, rev *revision, in *Input, key string, start time.Duration) (Decision, error) {
	id := e.opts.newID()
	cache := ""
	if rev.cache != nil {
		cache = "miss"
	}
	evalStart := time.Now()
	d, err := rev.evalDecision(ctx, *in, e.opts.now())
	evalNS := time.Since(evalStart)
	if err != nil {
		d = denied(id, rev.id, "the policy could not be evaluated")
		err = fmt.Errorf("decide for %q: %w", in.User.Login, err)
		e.log.write(e.opts.now(), rev.id, *in, d, err, monoTime(start), evalNS, false)
	} else {
		rev.cache.put(key, d)
		d.ID = id
		e.log.write(e.opts.now(), rev.id, *in, d, nil, monoTime(start), evalNS, false)
	}
	if e.opts.observe != nil {
		e.opts.observe(Observation{Allow: d.Allow, Err: err, Cache: cache, Duration: monoNow() - start})
	}
	return d, err
}

func (r *revision) evalDecision(ctx context.Context, in Input, now time.Time) (Decision, error) {
	if err := ctx.Err(); err != nil {
		return Decision{}, err
	}
	cancel, stop := evalCancel(ctx)
	defer stop()
	vc := getVirtualCache()
	rs, err := r.decide.Eval(ctx, oparego.EvalParsedInput(in.value()), oparego.EvalTime(now),
		oparego.EvalMetrics(metrics.NoOp()), oparego.EvalExternalCancel(cancel), oparego.EvalGenerateJSON(decisionArrayJSON),
		oparego.EvalVirtualCache(vc))
	putVirtualCache(vc)
	if err != nil {
		return Decision{}, err
	}
	if len(rs) == 0 {
		return Decision{}, ErrUndefined
	}
	b, ok := rs[0].Bindings["decision"].(map[string]any)
	if !ok {
		return Decision{}, fmt.Errorf("decision query answered %T", rs[0].Bindings["decision"])
	}
	return r.decisionFromBindings(b)
}

// neverCanceled stops no evaluation: the one for contexts that cannot be
// canceled.
var neverCanceled = topdown.NewCancel()

// evalCancel returns what stops an evaluation when ctx ends, and a stop
// function to call once it is done. OPA would otherwise start a goroutine
// per evaluation to watch ctx; a context that is never canceled needs
// none, and AfterFunc starts one only if ctx ends first.
func evalCancel(ctx context.Context) (topdown.Cancel, func() bool) {
	if ctx.Done() == nil {
		return neverCanceled, func() bool { return false }
	}
	c := topdown.NewCancel()
	return c, context.AfterFunc(ctx, c.Cancel)
}

// build compiles everything a revision needs.
func (o *options) build(ctx context.Context, cfg *policy.Config) (*revision, error) {
	if cfg == nil {
		return nil, errors.New("engine: no configuration")
	}
	generated, err := rego.Modules(cfg)
	if err != nil {
		return nil, fmt.Errorf("compile grants: %w", err)
	}
	own := append([]rego.Module(nil), o.modules...)
	exported := append(slices.Clip(generated), rego.Exported("", o.modules)...)
	for _, dir := range o.modulesDirs {
		mods, err := rego.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		own = append(own, mods...)
		exported = append(exported, rego.Exported(dir, mods)...)
	}
	for _, source := range o.moduleSources {
		mods, err := source()
		if err != nil {
			return nil, err
		}
		own = append(own, mods...)
		exported = append(exported, rego.Exported("", mods)...)
	}
	hooks, err := compileHooks(cfg)
	if err != nil {
		return nil, err
	}
	all := append(generated, own...)
	compiler, parsedOwn, err := compileModules(all, len(generated))
	if err != nil {
		return nil, err
	}
	key, cacheable := analyzeInputUse(parsedOwn)
	decides, scope := fingerprint(compiler, key, cfg)

	store := inmem.NewWithOpts(inmem.OptRoundTripOnWrite(false), inmem.OptReturnASTValuesOnRead(true))
	prepare := func(q string) (oparego.PreparedEvalQuery, error) {
		return oparego.New(
			oparego.Query(q),
			oparego.Compiler(compiler),
			oparego.Store(store),
			oparego.StoreReadAST(true),
			oparego.SetRegoVersion(ast.RegoV1),
		).PrepareForEval(ctx)
	}
	decide, err := prepare(decisionQuery)
	if err != nil {
		return nil, fmt.Errorf("prepare decision query: %w", err)
	}
	explain, err := prepare(explainQuery)
	if err != nil {
		return nil, fmt.Errorf("prepare explain query: %w", err)
	}

	rev := &revision{
		matrixQueries: sync.OnceValues(func() ([4]oparego.PreparedEvalQuery, error) {
			// Prepared lazily, maybe long after the build's context ended.
			var qs [4]oparego.PreparedEvalQuery
			for i, q := range []string{matrixAllowQuery, matrixVerdictQuery, matrixCandidatesQuery, matrixDecideQuery} {
				var err error
				qs[i], err = oparego.New(
					oparego.Query(q),
					oparego.Compiler(compiler),
					oparego.Store(store),
					oparego.StoreReadAST(true),
					oparego.SetRegoVersion(ast.RegoV1),
				).PrepareForEval(context.Background())
				if err != nil {
					return qs, err
				}
			}
			return qs, nil
		}),
		matrixNarrows: !extendsGranted(parsedOwn),
		prepare:       prepare,
		id:            revisionID(all),
		modules:       exported,
		decides:       decides,
		scope:         scope,
		cfg:           cfg,
		decide:        decide,
		explain:       explain,
		hooks:         hooks,
		grants:        make(map[string]*policy.Grant),
		caps:          make(map[string]*policy.Capability),
		order:         make(map[string]int),
		key:           key,
	}
	rev.connectorQuery = sync.OnceValues(func() (oparego.PreparedEvalQuery, error) {
		// Prepared lazily, maybe long after the build's context ended.
		return oparego.New(oparego.Query(connectorQuery), oparego.Compiler(compiler), oparego.Store(store),
			oparego.StoreReadAST(true), oparego.SetRegoVersion(ast.RegoV1)).PrepareForEval(context.Background())
	})
	for _, set := range cfg.TempGrants {
		for _, g := range set.Grants {
			rev.order[g.Source()] = len(rev.order)
			rev.grants[g.Source()] = g
		}
	}
	for _, g := range cfg.Grants {
		rev.order[g.Source()] = len(rev.order)
		for _, c := range g.Caps {
			rev.order[c.Source()] = len(rev.order)
			rev.caps[c.Source()] = c
		}
	}
	// Assertions of the tests section hold or the policy is refused, on
	// every path that builds one: validate, start, reload, config API.
	if !o.skipTests {
		if err := rev.checkTests(ctx, o.now()); err != nil {
			return nil, err
		}
	}
	if cacheable {
		rev.cache = newLRU(o.cacheSize)
		rev.connectorCache = newLRU(o.cacheSize)
	}
	return rev, nil
}

// CompileError reports a policy that does not compile, each problem with
// its file:row:col. errors.As finds the underlying ast.Errors.
type CompileError struct {
	Errors ast.Errors
}

func (e *CompileError) Error() string {
	lines := make([]string, 0, len(e.Errors)+1)
	lines = append(lines, "policy does not compile:")
	for _, x := range e.Errors {
		var b strings.Builder
		if l := x.Location; l != nil {
			fmt.Fprintf(&b, "%s:%d:%d: ", l.File, l.Row, l.Col)
		}
		b.WriteString(x.Code + ": " + x.Message)
		lines = append(lines, "\t"+b.String())
	}
	return strings.Join(lines, "\n")
}

func (e *CompileError) Unwrap() error { return e.Errors }

// compileModules parses and compiles mods; the ones from index own on are the
// user's, returned compiled (imports resolved) for analysis.
func compileModules(mods []rego.Module, own int) (*ast.Compiler, []*ast.Module, error) {
	parsed := make(map[string]*ast.Module, len(mods))
	var errs ast.Errors
	for _, m := range mods {
		if _, dup := parsed[m.Name]; dup {
			return nil, nil, fmt.Errorf("policy module %s is given twice", m.Name)
		}
		mod, err := ast.ParseModuleWithOpts(m.Name, string(m.Text), ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
		if err != nil {
			var astErrs ast.Errors
			if errors.As(err, &astErrs) {
				errs = append(errs, astErrs...)
				continue
			}
			return nil, nil, fmt.Errorf("parse %s: %w", m.Name, err)
		}
		parsed[m.Name] = mod
	}
	if len(errs) > 0 {
		return nil, nil, &CompileError{Errors: errs}
	}
	c := ast.NewCompiler().WithEnablePrintStatements(false)
	if c.Compile(parsed); c.Failed() {
		return nil, nil, &CompileError{Errors: c.Errors}
	}
	var ownCompiled []*ast.Module
	for _, m := range mods[own:] {
		ownCompiled = append(ownCompiled, c.Modules[m.Name])
	}
	return c, ownCompiled, nil
}

// analyzeInputUse reports which input fields beyond the default cache key
// the user's modules read, and whether decisions may be memoized at all (not
// when a module calls a non-deterministic built-in such as time.now_ns or
// http.send). The library and generated grants read only login, tags,
// provider and model.
func analyzeInputUse(mods []*ast.Module) (keyFields, bool) {
	var k keyFields
	cacheable := true
	for _, m := range mods {
		ast.WalkRefs(m, func(r ast.Ref) bool {
			if !r[0].Equal(ast.InputRootDocument) {
				return false
			}
			if len(r) < 3 {
				k = keyFields{nodeID: true, tailnet: true, path: true, requested: true}
				return false
			}
			a, aok := r[1].Value.(ast.String)
			b, bok := r[2].Value.(ast.String)
			if !aok || !bok {
				k = keyFields{nodeID: true, tailnet: true, path: true, requested: true}
				return false
			}
			switch string(a) + "." + string(b) {
			case "user.node_id":
				k.nodeID = true
			case "user.tailnet":
				k.tailnet = true
			case "request.path":
				k.path = true
			case "request.requested_model":
				k.requested = true
			}
			return false
		})
		ast.WalkExprs(m, func(x *ast.Expr) bool {
			if !x.IsCall() {
				return false
			}
			if b, ok := ast.BuiltinMap[x.Operator().String()]; ok && b.Nondeterministic {
				cacheable = false
			}
			return false
		})
		ast.WalkTerms(m, func(t *ast.Term) bool {
			if call, ok := t.Value.(ast.Call); ok && len(call) > 0 {
				if b, ok := ast.BuiltinMap[call[0].String()]; ok && b.Nondeterministic {
					cacheable = false
				}
			}
			return false
		})
	}
	return k, cacheable
}

func revisionID(mods []rego.Module) string {
	h := sha256.New()
	for _, m := range mods {
		h.Write([]byte(m.Name))
		h.Write([]byte{0})
		h.Write(m.Text)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}
