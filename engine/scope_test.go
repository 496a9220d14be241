package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	oparego "github.com/open-policy-agent/opa/v1/rego"

	"github.com/sluice-gateway/sluice/rego"
)

// scopeSets are the grant sets of the configurations the reload tests
// start from: one per kind of src pattern the index knows.
var scopeSets = []string{
	`{"src": ["alice@x.com"], "grants": [{"role": "user"}, {"providers": [{"provider": "p0", "model": "model-a*"}]}]}`,
	`{"src": ["bob@x.com"], "grants": [{"role": "user"}, {"providers": [{"provider": "p1", "model": "*"}]}]}`,
	`{"src": ["*@y.com"], "grants": [{"role": "user"}, {"providers": [{"provider": "p2", "model": "*"}]}]}`,
	`{"src": ["tag:ci"], "grants": [{"role": "user"}, {"providers": [{"provider": "p0", "model": "*"}]}]}`,
	`{"src": ["group:eng"], "grants": [{"role": "admin"}, {"providers": [{"provider": "p1", "model": "model-b"}]}]}`,
	`{"src": ["carol@x.com", "tag:prod"], "grants": [{"role": "user"}, {"hook": {"match": {"models": ["model-*"]}, "hook": "audit", "fields": ["tools"]}}, {"providers": [{"provider": "p2", "model": "model-c"}]}]}`,
	`{"src": ["dev-*@x.com"], "grants": [{"role": "user"}, {"providers": [{"provider": "p1", "model": "*"}]}]}`,
}

func scopeConfigText(sets []string, extra string) string {
	return `{"providers": {
		"p0": {"baseurl": "https://p0.example", "apikey": "k", "models": ["model-a1", "model-b"]},
		"p1": {"baseurl": "https://p1.example", "apikey": "k", "models": ["model-a1", "model-b"]},
		"p2": {"baseurl": "https://p2.example", "apikey": "k", "models": ["model-c"]}` + extra + `},
	"hooks": {"audit": {"url": "https://hooks.example/audit"}},
	"temp_grants": [` + strings.Join(sets, ",\n") + `]}`
}

// scopeInputs are callers of every kind asking for every model.
func scopeInputs() []Input {
	callers := []Input{
		in("alice@x.com", "", ""),
		in("bob@x.com", "", ""),
		in("carol@x.com", "", ""),
		in("dan@y.com", "", ""),
		in("dev-1@x.com", "", ""),
		in("tagged-devices", "", "", "tag:ci"),
		in("tagged-devices", "", "", "tag:prod"),
		in("erin@x.com", "", ""),
		in("zed@x.com", "", ""),
	}
	callers[7].User.Groups = []string{"group:eng"}
	var out []Input
	for _, c := range callers {
		for _, pm := range [][2]string{{"p0", "model-a1"}, {"p1", "model-b"}, {"p2", "model-c"}} {
			x := c
			x.Request.Provider, x.Request.Model = pm[0], pm[1]
			out = append(out, x)
		}
	}
	return out
}

// callerName names an input's caller in test messages and expectations.
func callerName(x Input) string {
	if len(x.User.Tags) > 0 {
		return x.User.Tags[0]
	}
	return x.User.Login
}

// comparable renders what a decision tells the gateway, without the ID
// that differs on every call, including whether each hook grant carries
// its compiled condition.
func comparable(t *testing.T, d Decision) string {
	t.Helper()
	d.ID = ""
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range d.Hooks {
		b = fmt.Appendf(b, " prog:%v", h.prog != nil && h.prog.condition == h.Condition)
	}
	return string(b)
}

// warm decides every input once, filling e's cache.
func warm(t *testing.T, e *Engine, inputs []Input) {
	t.Helper()
	for _, x := range inputs {
		if _, err := e.Decide(context.Background(), x); err != nil {
			t.Fatal(err)
		}
	}
}

// checkReload warms a cache under before, reloads to after, and checks
// that every decision served afterwards, cached or not, equals what an
// engine without a cache decides under after. It returns the callers whose
// decisions the reload kept.
func checkReload(t *testing.T, before, after string, opts ...Option) []string {
	t.Helper()
	ctx := context.Background()
	var last Observation
	e := newEngine(t, parseConfig(t, before), append(opts, WithObserver(func(o Observation) { last = o }))...)
	inputs := scopeInputs()
	warm(t, e, inputs)
	next := parseConfig(t, after)
	if err := e.Update(ctx, next); err != nil {
		t.Fatal(err)
	}
	fresh := newEngine(t, next, append(opts, WithCacheSize(0))...)
	hits := make(map[string]int)
	for _, x := range inputs {
		got, err := e.Decide(ctx, x)
		if err != nil {
			t.Fatal(err)
		}
		want, err := fresh.Decide(ctx, x)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := comparable(t, got), comparable(t, want); g != w {
			t.Errorf("%s asking %s/%s after the reload (cache %s):\n got %s\nwant %s",
				callerName(x), x.Request.Provider, x.Request.Model, last.Cache, g, w)
		}
		if last.Cache == "hit" {
			hits[callerName(x)]++
		}
	}
	var kept []string
	for name, n := range hits {
		if n != 3 {
			t.Errorf("%s: %d of 3 decisions kept; a caller's decisions go or stay together", name, n)
		}
		kept = append(kept, name)
	}
	slices.Sort(kept)
	return kept
}

// TestReloadKeepsOtherCallersDecisions: a reload that changes the grants
// of some src patterns keeps the cached decisions of the callers none of
// them names, and every decision served after it is the one the new
// configuration makes.
func TestReloadKeepsOtherCallersDecisions(t *testing.T) {
	everyoneBut := func(names ...string) []string {
		all := []string{"alice@x.com", "bob@x.com", "carol@x.com", "dan@y.com", "dev-1@x.com", "erin@x.com", "tag:ci", "tag:prod", "zed@x.com"}
		return slices.DeleteFunc(all, func(s string) bool { return slices.Contains(names, s) })
	}
	with := func(i int, set string) []string {
		s := slices.Clone(scopeSets)
		s[i] = set
		return s
	}
	without := func(i int) []string { return slices.Delete(slices.Clone(scopeSets), i, i+1) }
	tests := []struct {
		name     string
		before   []string // scopeSets when nil
		sets     []string
		extra    string
		wantKept []string
	}{
		{"a login's model pattern", nil, with(0, `{"src": ["alice@x.com"], "grants": [{"role": "user"}, {"providers": [{"provider": "p0", "model": "model-b"}]}]}`), "", everyoneBut("alice@x.com")},
		{"a login's role taken away", nil, with(1, `{"src": ["bob@x.com"], "grants": [{"providers": [{"provider": "p1", "model": "*"}]}]}`), "", everyoneBut("bob@x.com")},
		{"a domain's grant", nil, with(2, `{"src": ["*@y.com"], "grants": [{"role": "user"}, {"providers": [{"provider": "p0", "model": "*"}]}]}`), "", everyoneBut("dan@y.com")},
		{"a tag's grant", nil, with(3, `{"src": ["tag:ci"], "grants": [{"role": "admin"}, {"providers": [{"provider": "p0", "model": "*"}]}]}`), "", everyoneBut("tag:ci")},
		{"a group's grant", nil, with(4, `{"src": ["group:eng"], "grants": [{"role": "user"}, {"providers": [{"provider": "p1", "model": "model-b"}]}]}`), "", everyoneBut("erin@x.com")},
		{"a hook grant's match", nil, with(5, `{"src": ["carol@x.com", "tag:prod"], "grants": [{"role": "user"}, {"hook": {"match": {"models": ["model-c"]}, "hook": "audit", "fields": ["tools"]}}, {"providers": [{"provider": "p2", "model": "model-c"}]}]}`), "", everyoneBut("carol@x.com", "tag:prod")},
		{"a new caller's grants", nil, append(slices.Clone(scopeSets), `{"src": ["zed@x.com"], "grants": [{"role": "user"}, {"providers": [{"provider": "p2", "model": "*"}]}]}`), "", everyoneBut("zed@x.com")},
		{"a login's second set removed", append(slices.Clone(scopeSets), `{"src": ["alice@x.com"], "grants": [{"providers": [{"provider": "p2", "model": "*"}]}]}`), scopeSets, "", everyoneBut("alice@x.com")},
		{"the glob's set removed", nil, without(6), "", everyoneBut("dev-1@x.com")},
		{"a glob pattern's grant", nil, with(6, `{"src": ["dev-*@x.com"], "grants": [{"role": "user"}, {"providers": [{"provider": "p2", "model": "*"}]}]}`), "", everyoneBut("dev-1@x.com")},
		{"a tag glob's grant", append(slices.Clone(scopeSets), `{"src": ["tag:p*"], "grants": [{"role": "user"}]}`), scopeSets, "", everyoneBut("tag:prod")},
		{"a grant for everyone", nil, append(slices.Clone(scopeSets), `{"src": ["*"], "grants": [{"role": "user"}]}`), "", nil},
		{"a set inserted first renumbers every grant", nil, append([]string{`{"src": ["zed@x.com"], "grants": [{"role": "user"}]}`}, scopeSets...), "", nil},
		{"a provider disabled", nil, scopeSets, `, "p3": {"baseurl": "https://p3.example", "apikey": "k", "models": ["m"], "disabled": true}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.before
			if before == nil {
				before = scopeSets
			}
			kept := checkReload(t, scopeConfigText(before, ""), scopeConfigText(tt.sets, tt.extra))
			if !slices.Equal(kept, tt.wantKept) {
				t.Errorf("kept the decisions of %q, want %q", kept, tt.wantKept)
			}
		})
	}
}

// TestReloadDropsAllWhenModulesReadGrants: a module of the user's own that
// reads the generated grants, or adds to their package, could decide on any
// of them, so a grant change drops every cached decision; one that reads
// only the input keeps per-caller invalidation.
func TestReloadDropsAllWhenModulesReadGrants(t *testing.T) {
	after := scopeConfigText(append(slices.Clone(scopeSets), `{"src": ["zed@x.com"], "grants": [{"role": "user"}]}`), "")
	tests := []struct {
		name, module string
		wantKept     int
	}{
		{"reads the index", `package sluice.authz

deny contains "too many logins" if count(data.sluice.grants.index.logins) > 100
`, 0},
		{"imports the grants", `package sluice.authz

import data.sluice.grants

deny contains "no grant rules" if count(grants.grant) == 0
`, 0},
		{"computes a package name", `package sluice.authz

deny contains "odd" if {
	some name in ["grants"]
	data.sluice[name].sections == "none"
}
`, 0},
		{"adds to the grants package", `package sluice.grants

note := "mine"
`, 0},
		{"reads only the input", `package sluice.authz

deny contains "no model-b for tags" if {
	count(input.user.tags) > 0
	input.request.model == "model-b"
}
`, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mod := rego.Module{Name: "own.rego", Text: []byte(tt.module)}
			if kept := checkReload(t, scopeConfigText(scopeSets, ""), after, WithModules(mod)); len(kept) != tt.wantKept {
				t.Errorf("kept the decisions of %q; want %d callers' kept", kept, tt.wantKept)
			}
		})
	}
}

// TestReloadRandomGrants changes random grants of random sets, many times
// over, and checks that no decision served after a reload differs from
// the new configuration's.
func TestReloadRandomGrants(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 24))
	srcs := []string{"alice@x.com", "bob@x.com", "carol@x.com", "*@y.com", "*@x.com", "tag:ci", "tag:prod", "group:eng", "dev-*@x.com", "*", "erin@x.com",
		"*n@x.com", "*o*@*", "tag:*i", "*-1@x*"}
	grants := []string{
		`{"role": "user"}`, `{"role": "admin"}`,
		`{"providers": [{"provider": "p0", "model": "*"}]}`,
		`{"providers": [{"provider": "p1", "model": "model-b"}]}`,
		`{"providers": [{"provider": "*", "model": "model-c"}]}`,
		`{"hook": {"match": {"models": ["model-*"]}, "hook": "audit", "fields": ["tools"]}}`,
	}
	randomSet := func() string {
		src := make([]string, 1+rnd.IntN(2))
		for i := range src {
			src[i] = fmt.Sprintf("%q", srcs[rnd.IntN(len(srcs))])
		}
		g := make([]string, 1+rnd.IntN(3))
		for i := range g {
			g[i] = grants[rnd.IntN(len(grants))]
		}
		return `{"src": [` + strings.Join(src, ", ") + `], "grants": [` + strings.Join(g, ", ") + `]}`
	}
	rounds := 40
	if testing.Short() {
		rounds = 10
	}
	for round := range rounds {
		sets := make([]string, 2+rnd.IntN(5))
		for i := range sets {
			sets[i] = randomSet()
		}
		after := slices.Clone(sets)
		switch i := rnd.IntN(len(after)); rnd.IntN(3) {
		case 0:
			after[i] = randomSet()
		case 1:
			after = append(after, randomSet())
		default:
			after = slices.Delete(after, i, i+1)
		}
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			checkReload(t, scopeConfigText(sets, ""), scopeConfigText(after, ""))
		})
	}
}

// TestCallerOfKey reads back what appendCacheKey wrote, long fields too.
func TestCallerOfKey(t *testing.T) {
	long := strings.Repeat("l", 300) + "@x.com"
	for _, x := range []Input{
		in("alice@x.com", "p0", "m"),
		in(long, "p0", strings.Repeat("m", 200), "tag:a", "tag:b"),
		{User: User{Login: "g@x.com", Groups: []string{"group:eng", "scim@x.com"}}, Request: Request{Provider: "p", Model: "m"}},
	} {
		x.canonicalize()
		for _, k := range []keyFields{{}, {nodeID: true, tailnet: true, path: true, requested: true}} {
			login, tags, groups, ok := callerOfKey(x.cacheKey(k))
			if !ok || login != x.User.Login || !slices.Equal(tags, x.User.Tags) || !slices.Equal(groups, x.User.Groups) {
				t.Errorf("callerOfKey = %q %q %q %v, want %q %q %q", login, tags, groups, ok, x.User.Login, x.User.Tags, x.User.Groups)
			}
		}
	}
	for _, bad := range []string{"", "\x05ab", "\x01a\x09", "\xff\xff"} {
		if _, _, _, ok := callerOfKey(bad); ok {
			t.Errorf("callerOfKey(%q) read a caller from a truncated key", bad)
		}
	}
}

// FuzzCallerOfKey: any key appendCacheKey builds reads back to its caller,
// and no string makes the reader panic.
func FuzzCallerOfKey(f *testing.F) {
	f.Add("alice@x.com", "tag:ci", "group:eng", "p0", "model", []byte("\x05alice"))
	f.Fuzz(func(t *testing.T, login, tag, group, provider, model string, raw []byte) {
		callerOfKey(string(raw))
		x := Input{User: User{Login: login, Tags: []string{tag}, Groups: []string{group}}, Request: Request{Provider: provider, Model: model}}
		x.canonicalize()
		l, tags, groups, ok := callerOfKey(x.cacheKey(keyFields{}))
		if !ok || l != login || !slices.Equal(tags, []string{tag}) || !slices.Equal(groups, []string{group}) {
			t.Errorf("callerOfKey = %q %q %q %v", l, tags, groups, ok)
		}
	})
}

// BenchmarkKeepCache: what a reload that changes one login's grants
// spends carrying a full cache of 10,000 decisions over, and how many it
// keeps.
func BenchmarkKeepCache(b *testing.B) {
	ctx := context.Background()
	before := grantsConfig(b, 1000)
	after := grantsConfig(b, 1000)
	after.TempGrants[1].Grants[1].Providers[0].Model = "other-model"
	e := newEngine(b, before, WithCacheSize(DefaultCacheSize))
	for i := range DefaultCacheSize {
		x := in(fmt.Sprintf("user%d@example.com", i%500), "p0", fmt.Sprintf("model-%d", i/500))
		if _, err := e.Decide(ctx, x); err != nil {
			b.Fatal(err)
		}
	}
	old := e.cur.Load()
	rev, err := e.opts.build(ctx, after)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		rev.cache = newLRU(DefaultCacheSize)
		rev.keepCache(old)
	}
	b.ReportMetric(float64(rev.cache.len()), "kept")
	b.ReportMetric(float64(old.cache.len()), "cached")
}

// starMatchRego evaluates the library's star_match, the general path
// starMatch mirrors.
func starMatchRego(tb testing.TB) func(pattern, value string) bool {
	tb.Helper()
	var mods []func(*oparego.Rego)
	for _, m := range rego.Library() {
		mods = append(mods, oparego.Module(m.Name, string(m.Text)))
	}
	q, err := oparego.New(append(mods, oparego.Query("data.sluice.authz.star_match(input.p, input.v)"))...).PrepareForEval(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return func(pattern, value string) bool {
		rs, err := q.Eval(context.Background(), oparego.EvalInput(map[string]any{"p": pattern, "v": value}))
		if err != nil {
			tb.Fatal(err)
		}
		return len(rs) == 1 && rs[0].Expressions[0].Value == true
	}
}

// TestStarMatch: the reload's glob check matches as the library does.
func TestStarMatch(t *testing.T) {
	rego := starMatchRego(t)
	for _, c := range [][2]string{
		{"*", ""}, {"*", "a@x.com"}, {"dev-*@x.com", "dev-1@x.com"}, {"dev-*@x.com", "dev-@x.com"},
		{"dev-*@x.com", "dev-1@y.com"}, {"*@x.com", "a.b@x.com"}, {"a*b*c", "abc"}, {"a*b*c", "acb"},
		{"a*b*c", "aXbYbZc"}, {"**", "x"}, {"a*a", "a"}, {"a*a", "aa"}, {"tag:ci-*", "tag:ci-1"},
		{`a\*`, `a\b`}, {"a?*", "ab"}, {"a?*", "a?b"}, {"[a]*", "[a]x"}, {"[a]*", "ax"}, {"x", "x"}, {"x", "y"},
	} {
		if got, want := starMatch(c[0], c[1]), rego(c[0], c[1]); got != want {
			t.Errorf("starMatch(%q, %q) = %v, the library says %v", c[0], c[1], got, want)
		}
	}
}

// FuzzStarMatch compares starMatch with the library's star_match.
func FuzzStarMatch(f *testing.F) {
	for _, c := range [][2]string{{"dev-*@x.com", "dev-1@x.com"}, {"*o*@*", "bob@x.com"}, {"a*a", "a"}, {"[*]", "[x]"}} {
		f.Add(c[0], c[1])
	}
	rego := starMatchRego(f)
	f.Fuzz(func(t *testing.T, pattern, value string) {
		if !strings.Contains(pattern, "*") || !utf8.ValidString(pattern) || !utf8.ValidString(value) {
			t.Skip() // the index holds only patterns with "*" as globs; strings are UTF-8
		}
		if got, want := starMatch(pattern, value), rego(pattern, value); got != want {
			t.Errorf("starMatch(%q, %q) = %v, the library says %v", pattern, value, got, want)
		}
	})
}

// TestDraftStartsEmpty: a draft engine (a policy diff's) carries no cached
// decision over, where Next, for the same configuration, keeps those of
// the callers whose grants stayed.
func TestDraftStartsEmpty(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, parseConfig(t, scopeConfigText(scopeSets, "")))
	warm(t, e, scopeInputs())
	sets := slices.Clone(scopeSets)
	sets[0] = `{"src": ["alice@x.com"], "grants": [{"role": "user"}]}`
	next := parseConfig(t, scopeConfigText(sets, ""))
	draft, err := e.Draft(ctx, next)
	if err != nil {
		t.Fatal(err)
	}
	reload, err := e.Next(ctx, next)
	if err != nil {
		t.Fatal(err)
	}
	if d, r := draft.CachedDecisions(), reload.CachedDecisions(); d != 0 || r != 8*3 {
		t.Errorf("cached decisions: draft %d, reload %d; want 0 and the 8 other callers' 24", d, r)
	}
}
