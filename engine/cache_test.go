package engine

import (
	"bytes"
	"context"
	"fmt"
	"hash/maphash"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluice-gateway/sluice/internal/cputime"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/rego"
)

func TestCacheHit(t *testing.T) {
	e := newEngine(t, loadCase(t, "restrict-users"))
	ctx := context.Background()
	first, err := e.Decide(ctx, in("developer@company.com", "openai", "gpt-5", "tag:b", "tag:a"))
	if err != nil {
		t.Fatal(err)
	}
	// Same caller with tags in another order: one cache entry.
	second, err := e.Decide(ctx, in("developer@company.com", "openai", "gpt-5", "tag:a", "tag:b", "tag:a"))
	if err != nil {
		t.Fatal(err)
	}
	if n := e.cur.Load().cache.len(); n != 1 {
		t.Errorf("%d cache entries, want 1", n)
	}
	if first.ID == second.ID {
		t.Error("a cached decision reused the decision ID")
	}
	if first.Allow != second.Allow || first.Role != second.Role || first.Revision != second.Revision {
		t.Errorf("cached decision %+v differs from %+v", second, first)
	}
	// Another model is another entry with its own answer.
	third, err := e.Decide(ctx, in("developer@company.com", "openai", "gpt-5-mini", "tag:a", "tag:b"))
	if err != nil {
		t.Fatal(err)
	}
	if third.Allow || e.cur.Load().cache.len() != 2 {
		t.Errorf("gpt-5-mini: allow %v, %d entries", third.Allow, e.cur.Load().cache.len())
	}
}

func TestCacheBounded(t *testing.T) {
	e := newEngine(t, loadCase(t, "allow-all"), WithCacheSize(3))
	ctx := context.Background()
	for _, login := range []string{"a@x", "b@x", "c@x", "d@x", "e@x"} {
		if _, err := e.Decide(ctx, in(login, "openai", "gpt-5")); err != nil {
			t.Fatal(err)
		}
	}
	c := e.cur.Load().cache
	if c.len() != 3 {
		t.Fatalf("%d entries, want 3", c.len())
	}
	k := func(login string) string { return in(login, "openai", "gpt-5").canonical().cacheKey(e.cur.Load().key) }
	if _, ok := c.get([]byte(k("a@x"))); ok {
		t.Error("the least recently used entry was kept")
	}
	if _, ok := c.get([]byte(k("e@x"))); !ok {
		t.Error("the newest entry was evicted")
	}
}

func TestCacheDisabled(t *testing.T) {
	e := newEngine(t, loadCase(t, "allow-all"), WithCacheSize(0))
	if _, err := e.Decide(context.Background(), in("a@x", "openai", "gpt-5")); err != nil {
		t.Fatal(err)
	}
	if e.cur.Load().cache != nil {
		t.Error("cache exists with size 0")
	}
}

// A module that reads more of the input than the default key, or calls a
// non-deterministic built-in, must not be answered from a stale entry.
func TestCacheFollowsModules(t *testing.T) {
	tests := []struct {
		name     string
		module   string
		a, b     Input
		cacheOff bool
	}{
		{
			name:   "node_id",
			module: "package sluice.authz\n\ndeny contains \"lost laptop\" if input.user.node_id == \"stolen\"\n",
			a:      withNode(in("developer@company.com", "openai", "gpt-5"), "n1"),
			b:      withNode(in("developer@company.com", "openai", "gpt-5"), "stolen"),
		},
		{
			name:   "path",
			module: "package sluice.authz\n\ndeny contains \"no embeddings\" if endswith(input.request.path, \"/embeddings\")\n",
			a:      in("developer@company.com", "openai", "gpt-5"),
			b:      withPath(in("developer@company.com", "openai", "gpt-5"), "/v1/embeddings"),
		},
		{
			name:   "requested model",
			module: "package sluice.authz\n\ndeny contains \"ask for gpt-5 by name\" if input.request.requested_model == \"fast\"\n",
			a:      in("developer@company.com", "openai", "gpt-5"),
			b:      withRequested(in("developer@company.com", "openai", "gpt-5"), "fast"),
		},
		{
			name:   "whole input",
			module: "package sluice.authz\n\ndeny contains \"no\" if object.get(input, [\"user\", \"tailnet\"], \"\") == \"other.example\"\n",
			a:      in("developer@company.com", "openai", "gpt-5"),
			b:      withTailnet(in("developer@company.com", "openai", "gpt-5"), "other.example"),
		},
		{
			name:     "time",
			module:   "package sluice.authz\n\ndeny contains \"after hours\" if time.now_ns() < 0\n",
			a:        in("developer@company.com", "openai", "gpt-5"),
			cacheOff: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, loadCase(t, "restrict-users"), WithModules(rego.Module{Name: "m.rego", Text: []byte(tt.module)}))
			if tt.cacheOff {
				if e.cur.Load().cache != nil {
					t.Error("decisions of a time-dependent policy are cached")
				}
				return
			}
			da, err := e.Decide(context.Background(), tt.a)
			if err != nil {
				t.Fatal(err)
			}
			db, err := e.Decide(context.Background(), tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if !da.Allow || db.Allow {
				t.Errorf("allow %v then %v, want true then false", da.Allow, db.Allow)
			}
		})
	}
}

func withNode(i Input, n string) Input    { i.User.NodeID = n; return i }
func withPath(i Input, p string) Input    { i.Request.Path = p; return i }
func withTailnet(i Input, n string) Input { i.User.Tailnet = n; return i }
func withRequested(i Input, m string) Input {
	i.Request.RequestedModel = m
	return i
}

func TestCacheKeyUnambiguous(t *testing.T) {
	all := keyFields{nodeID: true, tailnet: true, path: true, requested: true}
	inputs := []Input{
		{User: User{Login: "a"}, Request: Request{Provider: "b", Model: "c"}},
		{User: User{Login: "a\x00b"}, Request: Request{Provider: "", Model: "c"}},
		{User: User{Login: "a"}, Request: Request{Provider: "b", Model: "c\x00"}},
		{User: User{Login: "a", Tags: []string{"tag:x"}}, Request: Request{Provider: "b", Model: "c"}},
		{User: User{Login: "a", Tags: []string{"tag:x", "tag:y"}}, Request: Request{Provider: "b", Model: "c"}},
		{User: User{Login: "a", Tags: []string{"tag:xtag:y"}}, Request: Request{Provider: "b", Model: "c"}},
		{User: User{Login: "a"}, Request: Request{Provider: "b", Model: "c", Format: "f"}},
		{User: User{Login: "a"}, Request: Request{Provider: "b", Model: "c", Path: "/p"}},
		{User: User{Login: "a", NodeID: "n"}, Request: Request{Provider: "b", Model: "c"}},
		{User: User{Login: "a", Tailnet: "t"}, Request: Request{Provider: "b", Model: "c"}},
		{User: User{Login: "a"}, Request: Request{Provider: "b", Model: "c", RequestedModel: "d"}},
	}
	seen := make(map[string]int)
	for i, x := range inputs {
		k := x.canonical().cacheKey(all)
		if j, dup := seen[k]; dup {
			t.Errorf("inputs %d and %d share a cache key", j, i)
		}
		seen[k] = i
	}
}

// TestNextKeepsCacheAndLog: an engine built for a reload keeps the cached
// decisions when the policy revision is unchanged (only a price changed),
// starts afresh when it changed, and writes to the one decision log.
func TestNextKeepsCacheAndLog(t *testing.T) {
	ctx := context.Background()
	parseAs := func(t *testing.T, file, text string) *policy.Config {
		t.Helper()
		cfg, err := policy.Parse(file, []byte(text), nil)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	parse := func(text string) *policy.Config {
		t.Helper()
		return parseAs(t, "config.hujson", text)
	}
	const grants = `"temp_grants": [{"src": ["*"], "grants": [{"role": "user"}, {"providers": [{"provider": "*", "model": "*"}]}]}]`
	base := parse(`{"providers": {"openai": {"baseurl": "http://127.0.0.1:1", "apikey": "k", "models": ["gpt-5"]}}, ` + grants + `}`)
	priced := parse(`{"providers": {"openai": {"baseurl": "http://127.0.0.1:1", "apikey": "k", "models": ["gpt-5"]}}, ` + grants + `, "pricing": {"gpt-5": {"input": 1, "output": 2}}}`)
	regranted := parse(`{"providers": {"openai": {"baseurl": "http://127.0.0.1:1", "apikey": "k", "models": ["gpt-5"]}},
		"temp_grants": [{"src": ["alice@x"], "grants": [{"role": "user"}, {"providers": [{"provider": "*", "model": "*"}]}]}]}`)

	var log bytes.Buffer
	e := newEngine(t, base, WithDecisionLog(&log))
	if _, err := e.Decide(ctx, in("a@x", "openai", "gpt-5")); err != nil {
		t.Fatal(err)
	}
	same, err := e.Next(ctx, priced)
	if err != nil {
		t.Fatal(err)
	}
	if same.Revision() != e.Revision() || same.cur.Load().cache != e.cur.Load().cache || same.cur.Load().cache.len() != 1 {
		t.Errorf("a reload that changed only a price dropped the decision cache")
	}
	if same.Config() != priced {
		t.Error("the new engine does not serve the new configuration")
	}
	// Another file name and grants on other lines: the generated module's
	// comments, and so the revision, differ; its meaning does not.
	moved, err := same.Next(ctx, parseAs(t, "moved.hujson", "{\n\n"+grants+",\n\n\"providers\": {\"openai\": {\"baseurl\": \"http://127.0.0.1:1\", \"apikey\": \"k\", \"models\": [\"gpt-5\"]}}}"))
	if err != nil {
		t.Fatal(err)
	}
	if moved.Revision() == same.Revision() || moved.cur.Load().cache != same.cur.Load().cache {
		t.Errorf("moving grants in the file: revision %s (was %s), cache kept %v; want a new revision and the cache kept",
			moved.Revision(), same.Revision(), moved.cur.Load().cache == same.cur.Load().cache)
	}
	if d, err := moved.Decide(ctx, in("a@x", "openai", "gpt-5")); err != nil || d.Revision != moved.Revision() {
		t.Errorf("cached decision under revision %q, %v; want the new revision %q", d.Revision, err, moved.Revision())
	}
	changed, err := moved.Next(ctx, regranted)
	if err != nil {
		t.Fatal(err)
	}
	if changed.Revision() == e.Revision() || changed.cur.Load().cache.len() != 0 {
		t.Errorf("a new policy revision kept the old decisions")
	}
	d, err := changed.Decide(ctx, in("a@x", "openai", "gpt-5"))
	if err != nil || d.Allow {
		t.Errorf("after the grant change a@x: allow %v, %v; want denied", d.Allow, err)
	}
	if changed.log != e.log {
		t.Error("the new engine has a decision log writer of its own")
	}
	if n := bytes.Count(log.Bytes(), []byte("\n")); n != 3 {
		t.Errorf("decision log has %d lines, want 3 (one per decision, one writer)", n)
	}
}

// TestObserver: every decision reaches the observer with its verdict and
// whether the cache answered, also after Next built a new engine, so a
// metrics counter fed by it neither misses decisions nor restarts at a
// reload.
func TestObserver(t *testing.T) {
	var got []Observation
	var mu sync.Mutex
	observe := func(o Observation) { mu.Lock(); got = append(got, o); mu.Unlock() }
	cfg := loadCase(t, "restrict-users")
	e := newEngine(t, cfg, WithObserver(observe))
	ctx := context.Background()
	dev := in("developer@company.com", "openai", "gpt-5")
	e.Decide(ctx, dev)
	e.Decide(ctx, dev)
	e.Decide(ctx, in("developer@company.com", "openai", "gpt-5-mini"))
	next, err := e.Next(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	next.Decide(ctx, dev)
	off := newEngine(t, cfg, WithObserver(observe), WithCacheSize(0))
	off.Decide(ctx, dev)
	want := []struct {
		allow bool
		cache string
	}{{true, "miss"}, {true, "hit"}, {false, "miss"}, {true, "hit"}, {true, ""}}
	if len(got) != len(want) {
		t.Fatalf("%d observations, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Allow != w.allow || got[i].Cache != w.cache || got[i].Err != nil || got[i].Duration <= 0 {
			t.Errorf("observation %d = %+v, want allow %v cache %q", i, got[i], w.allow, w.cache)
		}
	}
}

// TestReloadKeepsOnlyDecisionsItCannotChange: a reload keeps the cached
// decisions when nothing a decision reads changed (a hook's URL), and
// drops them when something did: a grant, or whether a hook that a module
// requires is defined and enabled, which the configuration decides outside
// the Rego modules.
func TestReloadKeepsOnlyDecisionsItCannotChange(t *testing.T) {
	ctx := context.Background()
	require := rego.Module{Name: "req.rego", Text: []byte("package sluice.authz\n\nobligations contains {\"action\": \"require_hook\", \"hook\": \"guard\"}\n")}
	config := func(grantSrc, hook string) *policy.Config {
		return parseConfig(t, `{"providers": {"openai": {"baseurl": "http://127.0.0.1:1", "apikey": "k", "models": ["gpt-5"]}},
			"hooks": {"guard": `+hook+`},
			"temp_grants": [{"src": ["`+grantSrc+`"], "grants": [{"role": "user"}, {"providers": [{"provider": "*", "model": "*"}]}]}]}`)
	}
	const guard = `{"url": "https://guard.example/check"}`
	tests := []struct {
		name      string
		next      *policy.Config
		wantCache string // of the first decision after the reload
		wantAllow bool
	}{
		{"the same configuration", config("*", guard), "hit", true},
		{"another hook URL", config("*", `{"url": "https://elsewhere.example/check"}`), "hit", true},
		{"the grant taken away", config("bob@x", guard), "miss", false},
		{"the required hook disabled", config("*", `{"url": "https://guard.example/check", "disabled": true}`), "miss", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var last Observation
			e := newEngine(t, config("*", guard), WithModules(require), WithObserver(func(o Observation) { last = o }))
			if d, err := e.Decide(ctx, in("a@x", "openai", "gpt-5")); err != nil || !d.Allow {
				t.Fatalf("before the reload: allow %v, %v", d.Allow, err)
			}
			for _, reload := range []struct {
				name string
				do   func() *Engine
			}{
				{"Next", func() *Engine {
					n, err := e.Next(ctx, tt.next)
					if err != nil {
						t.Fatal(err)
					}
					return n
				}},
				{"Update", func() *Engine {
					if err := e.Update(ctx, tt.next); err != nil {
						t.Fatal(err)
					}
					return e
				}},
			} {
				n := reload.do()
				d, err := n.Decide(ctx, in("a@x", "openai", "gpt-5"))
				if err != nil || d.Allow != tt.wantAllow || last.Cache != tt.wantCache || d.Revision != n.Revision() {
					t.Errorf("%s: allow %v (cache %q, revision %s), %v; want allow %v (cache %q, revision %s)",
						reload.name, d.Allow, last.Cache, d.Revision, err, tt.wantAllow, tt.wantCache, n.Revision())
				}
			}
		})
	}
}

// TestCacheSecondChance: eviction passes over an entry used since it was
// stored and takes the oldest that was not.
func TestCacheSecondChance(t *testing.T) {
	c := newLRU(3)
	for _, k := range []string{"a", "b", "c"} {
		c.put(k, Decision{Role: k})
	}
	if _, ok := c.get([]byte("a")); !ok {
		t.Fatal("a missing")
	}
	c.put("d", Decision{Role: "d"})
	for k, want := range map[string]bool{"a": true, "b": false, "c": true, "d": true} {
		if d, ok := c.get([]byte(k)); ok != want || (ok && d.Role != k) {
			t.Errorf("%s: cached %v (%q), want %v", k, ok, d.Role, want)
		}
	}
	if n := c.len(); n != 3 {
		t.Errorf("%d entries, want 3", n)
	}
}

// TestCacheNeedsEqualKey: an entry answers only for its own key, not for
// another of the same hash.
func TestCacheNeedsEqualKey(t *testing.T) {
	c := newLRU(10)
	c.put("alice", Decision{Role: RoleAdmin, Allow: true})
	// Make the entry stored under alice's hash hold another key, as a
	// collision would.
	h := maphash.String(c.seed, "alice")
	x := c.index.Load()
	i, alice := x.find(h)
	mallory := &lruEntry{hash: h, key: "mallory", d: alice.d}
	x.slots[i].Store(mallory)
	c.entries[c.position(alice)] = mallory
	if d, ok := c.get([]byte("alice")); ok {
		t.Fatalf("alice got the decision stored for another key: %+v", d)
	}
	c.put("alice", Decision{Role: RoleUser})
	if d, ok := c.get([]byte("alice")); !ok || d.Role != RoleUser || c.len() != 1 {
		t.Errorf("after storing alice again: %+v %v, %d entries", d, ok, c.len())
	}
}

// TestCacheIndexConsistent: through many evictions, with home slots
// shared by several keys, every stored entry stays findable and the
// index holds exactly the stored entries.
func TestCacheIndexConsistent(t *testing.T) {
	for _, max := range []int{1, 2, 3, 7, 16, 100, 1500} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			c := newLRU(max)
			for i := range 20 * max {
				k := fmt.Sprint(i * 7 % (3 * max))
				if _, ok := c.get([]byte(k)); !ok {
					c.put(k, Decision{Role: k})
				}
				if i%(max+3) != 0 {
					continue
				}
				x := c.index.Load()
				held := 0
				for j := range x.slots {
					if x.slots[j].Load() != nil {
						held++
					}
				}
				if held != len(c.entries) || len(c.entries) > max {
					t.Fatalf("after %d puts: %d entries in the index, %d in the list, max %d", i, held, len(c.entries), max)
				}
				for _, e := range c.entries {
					if d, ok := c.get([]byte(e.key)); !ok || d.Role != e.key {
						t.Fatalf("after %d puts: stored key %s not found (%v, %q)", i, e.key, ok, d.Role)
					}
				}
			}
		})
	}
}

// TestCacheConcurrent: goroutines storing and reading more keys than fit
// only ever read the decision stored under the key they ask for.
func TestCacheConcurrent(t *testing.T) {
	c := newLRU(16)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				k := fmt.Sprint((g*7 + i) % 64)
				if d, ok := c.get([]byte(k)); ok && d.Role != k {
					t.Errorf("key %s answered with the decision of %s", k, d.Role)
					return
				}
				c.put(k, Decision{Role: k})
			}
		})
	}
	wg.Wait()
	if n := c.len(); n != 16 {
		t.Errorf("%d entries, want 16", n)
	}
}

// BenchmarkCachedDecision is BenchmarkDecide's cached cases, reporting
// also the CPU time of the benchmark's thread per decision (cpu-ns/op),
// which other processes on a busy machine disturb less than wall time.
func BenchmarkCachedDecision(b *testing.B) {
	// observed has an observer, as the gateway has for its metrics, so
	// the decision is timed; logged writes the decision log too.
	var observed atomic.Int64
	for _, c := range []struct {
		name string
		cfg  *policy.Config
		in   Input
		opts []Option
	}{
		{"default", policy.Default(), in("someone@example.com", "openai", "gpt-5"), nil},
		{"1000grants", grantsConfig(b, 1000), in("user250@example.com", "p0", "model-250-large", "tag:ci"), nil},
		{"observed", policy.Default(), in("someone@example.com", "openai", "gpt-5"),
			[]Option{WithObserver(func(o Observation) { observed.Add(int64(o.Duration)) })}},
		{"logged", policy.Default(), in("someone@example.com", "openai", "gpt-5"), []Option{WithDecisionLog(io.Discard)}},
	} {
		b.Run(c.name, func(b *testing.B) {
			e := newEngine(b, c.cfg, c.opts...)
			ctx := context.Background()
			if d, err := e.Decide(ctx, c.in); err != nil || !d.Allow {
				b.Fatalf("benchmark input not allowed: %+v %v", d, err)
			}
			runtime.LockOSThread() // so that the thread's clock is the loop's
			defer runtime.UnlockOSThread()
			b.ReportAllocs()
			n, cpu0 := 0, int64(cputime.Thread())
			for b.Loop() {
				if _, err := e.Decide(ctx, c.in); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(int64(cputime.Thread())-cpu0)/float64(n), "cpu-ns/op")
		})
	}
}
