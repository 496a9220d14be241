package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	oparego "github.com/open-policy-agent/opa/v1/rego"

	"github.com/sluice-gateway/sluice/policy"
)

// Matrix is the whole access policy as data: for every class of caller the
// grants tell apart, its role and the provider/model pairs it may use. It
// is computed by deciding every class against every configured pair with
// the compiled policy (the user's own modules included), so it shows what
// sluice enforces, not what the grants seem to say.
type Matrix struct {
	Models  []string      `json:"models"` // every configured "provider/model", in declaration order
	Classes []MatrixClass `json:"classes"`
}

// MatrixClass is one class of callers and what the policy gives it.
type MatrixClass struct {
	// Class is the src that defines it ("alice@example.com",
	// "*@example.com", "tag:ci", "group:eng", a wildcard pattern) or
	// "anyone else".
	Class string `json:"class"`
	// Kind is "login", "domain", "pattern", "group", "tag" or "other".
	Kind string `json:"kind"`
	// Caller is the representative caller the policy was asked about.
	Caller Caller `json:"caller"`
	// Role is "admin", "user" or "none".
	Role string `json:"role"`
	// Allowed are the pairs the class may use, in declaration order.
	Allowed []MatrixCell `json:"allowed"`
}

// Caller is who a class of callers is represented by: a login, a device's
// tags (its login then is the tags, as the gateway identifies it) and the
// groups the caller is in.
type Caller struct {
	Login  string   `json:"login"`
	Tags   []string `json:"tags,omitempty"`
	Groups []string `json:"groups,omitempty"`
}

func (c Caller) user() User { return User{Login: c.Login, Tags: c.Tags, Groups: c.Groups} }

// MatrixCell is one allowed provider/model pair, with the grants that
// allow it ("temp_grants[i].grants[j]", "grants[i].app...[j]", or none
// named when a module of the user's own allowed it).
type MatrixCell struct {
	Provider string   `json:"provider"`
	Model    string   `json:"model"`
	Grants   []string `json:"grants"`
}

// AnyoneElse names the class of callers no src names specifically.
const AnyoneElse = "anyone else"

// anonymousLogin is the login of the representative callers that no grant
// names by login or domain (".invalid" is reserved, RFC 2606).
const anonymousLogin = "someone@anyone-else.invalid"

// kinds orders the classes of a matrix.
var kinds = []string{"login", "domain", "pattern", "group", "tag", "other"}

// Classes returns the classes of callers the grants of cfgs distinguish: each
// login, domain, wildcard pattern, group and tag named in a src, and anyone
// else, each with a representative caller. A domain's representative is a
// login of that domain that no src names; a group's, a member of the group
// named by nothing else; a tag's, a device with only that tag.
func Classes(cfgs ...*policy.Config) []MatrixClass {
	srcs := map[string]bool{}
	for _, cfg := range cfgs {
		for _, set := range cfg.TempGrants {
			for _, s := range set.Src {
				srcs[s] = true
			}
		}
		for _, g := range cfg.Grants {
			for _, s := range g.Src {
				srcs[s] = true
			}
		}
	}
	logins := map[string]bool{anonymousLogin: true}
	for s := range srcs {
		if !strings.Contains(s, "*") && !strings.HasPrefix(s, "tag:") && !strings.HasPrefix(s, "group:") {
			logins[s] = true
		}
	}
	unnamed := func(login string) string {
		for i := 2; logins[login]; i++ {
			name, domain, _ := strings.Cut(login, "@")
			login = strings.TrimRight(name, "0123456789") + strconv.Itoa(i) + "@" + domain
		}
		logins[login] = true
		return login
	}
	var out []MatrixClass
	for s := range srcs {
		c := MatrixClass{Class: s}
		switch {
		case s == "*":
			continue // anyone else
		case strings.HasPrefix(s, "tag:") && strings.Contains(s, "*"):
			tag := strings.ReplaceAll(s, "*", "x")
			c.Kind, c.Caller = "pattern", taggedCaller(tag)
		case strings.HasPrefix(s, "tag:"):
			c.Kind, c.Caller = "tag", taggedCaller(s)
		case strings.HasPrefix(s, "group:"):
			c.Kind, c.Caller = "group", Caller{Login: anonymousLogin, Groups: []string{s}}
		case strings.HasPrefix(s, "*@") && !strings.ContainsAny(s[2:], "*@"):
			c.Kind, c.Caller = "domain", Caller{Login: unnamed("someone" + s[1:])}
		case strings.Contains(s, "*"):
			c.Kind, c.Caller = "pattern", Caller{Login: strings.ReplaceAll(s, "*", "x")}
		default:
			c.Kind, c.Caller = "login", Caller{Login: s}
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b MatrixClass) int {
		return cmp.Or(cmp.Compare(slices.Index(kinds, a.Kind), slices.Index(kinds, b.Kind)), strings.Compare(a.Class, b.Class))
	})
	return append(out, MatrixClass{Class: AnyoneElse, Kind: "other", Caller: Caller{Login: anonymousLogin}})
}

// taggedCaller is the caller a device with these tags is: as the gateway
// identifies it, its login is its sorted tags.
func taggedCaller(tags ...string) Caller {
	t := slices.Clone(tags)
	slices.Sort(t)
	t = slices.Compact(t)
	return Caller{Login: strings.Join(t, ","), Tags: t}
}

// Matrix computes the access matrix of the running policy over the classes
// its configuration's grants distinguish.
func (e *Engine) Matrix(ctx context.Context) (*Matrix, error) {
	return e.MatrixOf(ctx, Classes(e.Config()))
}

// MatrixOf computes the access matrix of the running policy over the given
// classes (as Classes returns them; their Role and Allowed are ignored),
// so that two policies can be compared class by class.
func (e *Engine) MatrixOf(ctx context.Context, classes []MatrixClass) (*Matrix, error) {
	return e.cur.Load().matrix(ctx, classes, e.opts.now)
}

func (r *revision) matrix(ctx context.Context, classes []MatrixClass, now func() time.Time) (*Matrix, error) {
	pairs := r.cfg.ModelPairs()
	m := &Matrix{Models: make([]string, len(pairs)), Classes: make([]MatrixClass, len(classes))}
	for i, c := range classes {
		m.Classes[i] = MatrixClass{Class: c.Class, Kind: c.Kind, Caller: c.Caller}
	}
	for i, p := range pairs {
		m.Models[i] = p.String()
	}
	index := pairIndex(pairs)
	// Classes are independent: decide them on every core.
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     = make(chan int)
	)
	for range max(1, min(runtime.GOMAXPROCS(0), len(m.Classes))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := r.fillClass(ctx, &m.Classes[i], pairs, index, now()); err != nil {
					mu.Lock()
					firstErr = cmp.Or(firstErr, err)
					mu.Unlock()
				}
			}
		}()
	}
	for i := range m.Classes {
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return m, nil
}

// The matrix asks only for what Decide's verdict reads: the rest of a
// full decision (hooks, headers, quotas, CORS) is most of its cost, times
// every model of every class of callers. matrixAllowQuery comes first: the
// library's allow is false for most pairs, and then the verdict is too
// (see verdict) without evaluating every deny rule; matrixVerdictQuery
// completes the verdict of the pairs it allows.
const (
	matrixAllowQuery   = `role := data.sluice.authz.role; allow := data.sluice.authz.allow`
	matrixVerdictQuery = `denials := count(data.sluice.authz.deny); grants := data.sluice.authz.provider_grants`
	// matrixCandidatesQuery asks once per class which pairs (input.pairs)
	// its grants match at all: granted, and so allow, is false for every
	// other pair, so only these need deciding.
	matrixCandidatesQuery = `candidates := data.sluice.authz.matrix_candidates`
	matrixDecideQuery     = matrixAllowQuery + "; " + matrixVerdictQuery
)

// grantedRules are the rules of the library that decide whether granted
// holds, which matrix_candidates mirrors.
var grantedRules = []ast.Ref{
	ast.MustParseRef("data.sluice.authz.allow"),
	ast.MustParseRef("data.sluice.authz.granted"),
	ast.MustParseRef("data.sluice.authz.matching_provider_grants"),
	ast.MustParseRef("data.sluice.authz.model_grants"),
	ast.MustParseRef("data.sluice.authz.named"),
	ast.MustParseRef("data.sluice.authz.named_entries"),
	ast.MustParseRef("data.sluice.authz.capabilities"),
	ast.MustParseRef("data.sluice.authz.capability_set"),
	ast.MustParseRef("data.sluice.authz.cap_models"),
	ast.MustParseRef("data.sluice.authz.as_list"),
	ast.MustParseRef("data.sluice.authz.star_match"),
	ast.MustParseRef("data.sluice.authz.path_match"),
	ast.MustParseRef("data.sluice.authz.fqn"),
	ast.MustParseRef("data.sluice.authz.matrix_candidates"),
}

// extendsGranted reports whether the user's modules add a rule to those
// grantedRules names: then granted may hold for a pair matrix_candidates
// does not name, and the matrix decides every pair.
func extendsGranted(own []*ast.Module) bool {
	for _, m := range own {
		for _, rule := range m.Rules {
			ref := m.Package.Path.Extend(rule.Head.Ref())
			for _, g := range grantedRules {
				if ref.HasPrefix(g) || g.HasPrefix(ref) {
					return true
				}
			}
		}
	}
	return false
}

// fillClass decides c's caller against every pair, as Decide would with
// an input naming only the caller, the provider and the model.
func (r *revision) fillClass(ctx context.Context, c *MatrixClass, pairs []policy.ModelPair, index map[policy.ModelPair][]int, now time.Time) error {
	c.Allowed = []MatrixCell{}
	in := Input{User: c.Caller.user()}.canonical()
	if len(pairs) == 0 {
		d, err := r.evalDecision(ctx, in, now)
		if err != nil {
			return err
		}
		c.Role = d.Role
		return nil
	}
	qs, err := r.matrixQueries()
	if err != nil {
		return fmt.Errorf("prepare matrix queries: %w", err)
	}
	eval := func(q oparego.PreparedEvalQuery, input ast.Value) (map[string]any, error) {
		rs, err := q.Eval(ctx, oparego.EvalParsedInput(input), oparego.EvalTime(now))
		if err != nil {
			return nil, fmt.Errorf("matrix for %q: %w", c.Class, err)
		}
		if len(rs) == 0 {
			return nil, fmt.Errorf("matrix for %q: %w", c.Class, ErrUndefined)
		}
		return rs[0].Bindings, nil
	}
	// The role (asked with the first pair) comes first: without one
	// nothing is allowed (see verdict).
	candidates := []int{0}
	if r.matrixNarrows {
		in.Request = Request{}
		input := in.value().(ast.Object)
		input.Insert(ast.StringTerm("models"), modelsTerm(pairs))
		b, err := eval(qs[2], input)
		if err != nil {
			return err
		}
		list, ok := b["candidates"].([]any)
		if !ok {
			return fmt.Errorf("matrix for %q: malformed candidates %v", c.Class, b)
		}
		for _, x := range list {
			pair := strs(x)
			if len(pair) != 2 {
				return fmt.Errorf("matrix for %q: malformed candidate %v", c.Class, x)
			}
			candidates = append(candidates, index[policy.ModelPair{Provider: pair[0], Model: pair[1]}]...)
		}
		slices.Sort(candidates)
		candidates = slices.Compact(candidates)
	} else {
		for i := range pairs[1:] {
			candidates = append(candidates, i+1)
		}
	}
	for _, i := range candidates {
		p := pairs[i]
		in.Request = Request{Provider: p.Provider, Model: p.Model}
		input := in.value()
		// A candidate is usually allowed: then one query that also asks
		// for the deny rules costs less than two.
		q := qs[0]
		if r.matrixNarrows {
			q = qs[3]
		}
		b, err := eval(q, input)
		if err != nil {
			return err
		}
		role, _ := b["role"].(string)
		allow, ok := b["allow"].(bool)
		if !ok || role == "" {
			return fmt.Errorf("matrix for %q: malformed decision %v", c.Class, b)
		}
		if i == 0 {
			c.Role = role
			if role == RoleNone {
				return nil
			}
		}
		if !verdict(role, allow, 0) {
			continue
		}
		if !r.matrixNarrows {
			if b, err = eval(qs[1], input); err != nil {
				return err
			}
		}
		denials, err := json.Number(fmt.Sprint(b["denials"])).Int64()
		if err != nil {
			return fmt.Errorf("matrix for %q: malformed decision %v", c.Class, b)
		}
		if verdict(role, allow, int(denials)) {
			grants := strs(b["grants"])
			slices.Sort(grants)
			c.Allowed = append(c.Allowed, MatrixCell{Provider: p.Provider, Model: p.Model, Grants: grants})
		}
	}
	return nil
}

// modelsTerm is pairs as matrix_candidates reads input.models:
// {"provider": ["model", ...]}.
func modelsTerm(pairs []policy.ModelPair) *ast.Term {
	models := map[string][]*ast.Term{}
	for _, p := range pairs {
		models[p.Provider] = append(models[p.Provider], ast.StringTerm(p.Model))
	}
	obj := ast.NewObject()
	for provider, ms := range models {
		obj.Insert(ast.StringTerm(provider), ast.ArrayTerm(ms...))
	}
	return ast.NewTerm(obj)
}

// pairIndex maps each pair to its places in pairs.
func pairIndex(pairs []policy.ModelPair) map[policy.ModelPair][]int {
	index := make(map[policy.ModelPair][]int, len(pairs))
	for i, p := range pairs {
		index[p] = append(index[p], i)
	}
	return index
}
