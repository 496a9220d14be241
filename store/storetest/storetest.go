// Package storetest is the conformance suite every store backend runs: the
// same behaviour checked against SQLite and PostgreSQL, so the dashboard and
// the gateway cannot tell them apart.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/internal/cputime"
	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/usage"
)

// NewDSN returns the DSN of a fresh, empty database for one test, and
// arranges (with t.Cleanup) for it to be removed. Calling store.Open on it
// several times must reach the same database.
type NewDSN func(t *testing.T) string

// T0 is the time the suite's records start from.
var T0 = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)

// Run runs the conformance suite against the backend newDSN creates.
func Run(t *testing.T, newDSN NewDSN) {
	tests := []struct {
		name string
		fn   func(t *testing.T, dsn string)
	}{
		{"RoundTrip", testRoundTrip},
		{"UsageNotReported", testUsageNotReported},
		{"Grants", testGrants},
		{"Routing", testRouting},
		{"DuplicateIDStoredOnce", testDuplicateID},
		{"ReplayedRecordWithBodiesStoredOnce", testReplayedWithRaws},
		{"LargeBatchRetriedStoredOnce", testLargeBatchRetried},
		{"MissingIDGenerated", testGeneratedID},
		{"TextIsCleaned", testCleanText},
		{"LookupScopedToLogin", testScopedLookup},
		{"Filters", testFilters},
		{"CursorPaging", testPaging},
		{"WriterStoresEveryRecord", testWriterN},
		{"ReplicasWriteAtOnce", testReplicasWriteAtOnce},
		{"Sessions", testSessions},
		{"Usage", testUsage},
		{"Rollup", testRollup},
		{"Retention", testRetention},
		{"RawBodies", testRaws},
		{"EncryptedRawBodiesAndKeyRotation", testEncryptedRaws},
		{"ConcurrentOpenMigratesOnce", testConcurrentOpen},
		{"QuotaLifecycle", testQuotaLifecycle},
		{"QuotaCapacityLowered", testQuotaCapacityLowered},
		{"QuotaConcurrentReserve", testQuotaConcurrentReserve},
		{"QuotaSurvivesReopen", testQuotaSurvivesReopen},
		{"QuotaChain", testQuotaChain},
		{"QuotaChainConcurrent", testQuotaChainConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newDSN(t))
		})
	}
}

// Open opens dsn and closes the store when the test ends.
func Open(t testing.TB, dsn string, opts store.Options) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), dsn, opts)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}

// rec builds a minimal record.
func rec(id, login, model string, at time.Time) store.Record {
	return store.Record{
		ID: id, Time: at, Login: login, Model: model, Provider: "openai",
		Format: "openai_chat", Method: "POST", Path: "/v1/chat/completions",
		Status: 200, Usage: usage.Tokens{Input: usage.Of(100), Output: usage.Of(10)}, CostUSD: 0.001, CostKnown: true,
	}
}

func insert(t *testing.T, st store.Store, recs ...store.Record) {
	t.Helper()
	if err := st.Insert(context.Background(), recs); err != nil {
		t.Fatalf("Insert: %v", err)
	}
}

// all pages through every request matching f.
func all(t *testing.T, st store.Store, f store.Filter) []store.Record {
	t.Helper()
	var out []store.Record
	p := store.Page{Limit: store.MaxLimit}
	for range 1000 {
		page, err := st.Requests(context.Background(), f, p)
		if err != nil {
			t.Fatalf("Requests(%+v): %v", f, err)
		}
		out = append(out, page.Records...)
		if page.Next == "" {
			return out
		}
		p.Cursor = page.Next
	}
	t.Fatal("Requests paging did not end")
	return nil
}

func ids(recs []store.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

func testRoundTrip(t *testing.T, dsn string) {
	st := Open(t, dsn, store.Options{})
	want := store.Record{
		ID: "req-1", Time: time.Date(2026, 3, 10, 9, 0, 0, 123456789, time.FixedZone("CET", 3600)),
		Login: "alice@example.com", NodeID: "n1", NodeName: "laptop", Tailnet: "example.com",
		Provider: "anthropic", Model: "claude-sonnet-4-5", Format: "anthropic_messages",
		Method: "POST", Path: "/v1/messages", Stream: true,
		Status: 200, Error: "", Latency: 1500 * time.Millisecond, TTFB: 250 * time.Millisecond,
		Usage:   usage.Tokens{Input: usage.Of(1200), Output: usage.Of(300), CacheRead: usage.Of(1000), CacheWrite: usage.Of(100), Reasoning: usage.Of(50)},
		CostUSD: 0.0123, CostKnown: true, ToolCalls: 2, RequestBytes: 4096, ResponseBytes: 2048,
		UserAgent: "claude-cli/2.1", Revision: "rev-7", SessionID: "s-abc", Instance: "ai-1",
		Grants: []string{"grants[2].app.tailscale.com/cap/aperture[0]", "tailnet:caps[0]"},
		Decision: &store.DecisionInput{
			Tags: []string{"tag:ci"}, Groups: []string{"group:eng"},
			Caps: []json.RawMessage{json.RawMessage(`{"models":["gpt-5"]}`)}, Allow: true,
		},
	}
	insert(t, st, want)
	got, err := st.Request(context.Background(), "req-1", store.Lookup{})
	if err != nil {
		t.Fatalf("Request: %v", err)
	}
	want.Time = want.Time.Truncate(time.Microsecond).UTC()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}
}

// testUsageNotReported: counts a provider did not report come back as not
// reported (NULL), told apart from reported zeros, and sums skip them.
func testUsageNotReported(t *testing.T, dsn string) {
	st := Open(t, dsn, store.Options{})
	aborted := rec("aborted", "alice", "gpt-5", T0)
	aborted.Usage, aborted.CostUSD, aborted.CostKnown = usage.Tokens{}, 0, false
	partial := rec("partial", "alice", "gpt-5", T0.Add(time.Second))
	partial.Usage, partial.CostUSD, partial.CostKnown = usage.Tokens{Input: usage.Of(7)}, 0, false
	zero := rec("zero", "alice", "gpt-5", T0.Add(2*time.Second))
	zero.Usage, zero.CostUSD = usage.Tokens{Input: usage.Of(0), Output: usage.Of(0), CacheRead: usage.Of(0)}, 0
	insert(t, st, aborted, partial, zero)
	for _, want := range []store.Record{aborted, partial, zero} {
		got, err := st.Request(context.Background(), want.ID, store.Lookup{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Usage != want.Usage || got.CostKnown != want.CostKnown || got.CostUSD != 0 {
			t.Errorf("%s: usage %+v cost %v/%v, want %+v cost 0/%v", want.ID, got.Usage, got.CostUSD, got.CostKnown, want.Usage, want.CostKnown)
		}
	}
	aggs, err := st.Usage(context.Background(), store.ByUser, store.Filter{})
	if err != nil || len(aggs) != 1 {
		t.Fatalf("Usage: %v %v", aggs, err)
	}
	if tot := aggs[0].Totals; tot.Requests != 3 || tot.InputTokens != 7 || tot.OutputTokens != 0 || tot.UnknownCost != 2 {
		t.Errorf("totals %+v, want 3 requests, 7 input tokens, 2 of unknown cost", tot)
	}
}

func testDuplicateID(t *testing.T, dsn string) {
	st := Open(t, dsn, store.Options{})
	first := rec("dup", "alice", "gpt-5", T0)
	second := rec("dup", "bob", "gpt-5", T0.Add(time.Minute))
	insert(t, st, first)
	insert(t, st, second, rec("other", "bob", "gpt-5", T0))
	got := all(t, st, store.Filter{})
	if len(got) != 2 {
		t.Fatalf("rows = %v, want dup and other once each", ids(got))
	}
	r, err := st.Request(context.Background(), "dup", store.Lookup{})
	if err != nil || r.Login != "alice" {
		t.Errorf("dup row = %+v, %v; want the first insert (alice) kept", r, err)
	}
}

// testReplayedWithRaws stores a record with raw bodies twice, as a spool
// replay after a crash does: one row and one body of each kind.
func testReplayedWithRaws(t *testing.T, dsn string) {
	st := Open(t, dsn, store.Options{})
	r := rec("replayed", "alice", "gpt-5", T0)
	r.RawRequest, r.RawResponse = []byte(`{"q":1}`), []byte(`{"a":1}`)
	insert(t, st, r)
	insert(t, st, r, rec("next", "alice", "gpt-5", T0))
	AssertOneRowEach(t, st, []string{"replayed", "next"})
	got, err := st.Request(context.Background(), "replayed", store.Lookup{Raws: true})
	if err != nil || string(got.RawRequest) != `{"q":1}` || string(got.RawResponse) != `{"a":1}` || got.RawError != "" {
		t.Errorf("replayed row = %+v, %v; want its bodies once and readable", got, err)
	}
	// Deleting the row removes every body: none was stored twice.
	if n, err := st.DeleteOlderThan(context.Background(), T0.Add(time.Hour)); err != nil || n != 2 {
		t.Errorf("DeleteOlderThan = %d, %v; want 2 rows", n, err)
	}
}

func testGeneratedID(t *testing.T, dsn string) {
	st := Open(t, dsn, store.Options{})
	insert(t, st, rec("", "alice", "gpt-5", T0), rec("", "alice", "gpt-5", T0))
	got := all(t, st, store.Filter{})
	if len(got) != 2 || got[0].ID == "" || got[1].ID == "" || got[0].ID == got[1].ID {
		t.Errorf("ids = %q, want two distinct generated IDs", ids(got))
	}
}

func testCleanText(t *testing.T, dsn string) {
	st := Open(t, dsn, store.Options{})
	r := rec("dirty", "alice", "gpt-5", T0)
	r.Error = "upstream said \x00\xff\xfe boom"
	r.UserAgent = "agent\x00/1"
	insert(t, st, r)
	got, err := st.Request(context.Background(), "dirty", store.Lookup{})
	if err != nil {
		t.Fatalf("Request: %v", err)
	}
	if got.Error != "upstream said \uFFFD boom" || got.UserAgent != "agent/1" {
		t.Errorf("stored Error %q, UserAgent %q; want invalid UTF-8 replaced and NUL removed", got.Error, got.UserAgent)
	}
}

func testScopedLookup(t *testing.T, dsn string) {
	st := Open(t, dsn, store.Options{})
	insert(t, st, rec("a1", "alice", "gpt-5", T0))
	ctx := context.Background()
	if _, err := st.Request(ctx, "a1", store.Lookup{Login: "bob"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("bob reading alice's row: err = %v, want ErrNotFound", err)
	}
	if r, err := st.Request(ctx, "a1", store.Lookup{Login: "alice"}); err != nil || r.ID != "a1" {
		t.Errorf("alice reading her row: %+v, %v", r, err)
	}
	if _, err := st.Request(ctx, "nope", store.Lookup{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown id: err = %v, want ErrNotFound", err)
	}
}

func testConcurrentOpen(t *testing.T, dsn string) {
	const n = 4
	stores := make([]store.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = store.Open(context.Background(), dsn, store.Options{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	insert(t, stores[0], rec("x", "alice", "gpt-5", T0))
	if got := ids(all(t, stores[n-1], store.Filter{})); !reflect.DeepEqual(got, []string{"x"}) {
		t.Errorf("other replica sees %v, want [x]", got)
	}
}

// BenchmarkWriterVaried is BenchmarkWriter with records that differ as a
// gateway's do: each has its own latency, token counts, cost and sizes;
// logins, models, clients and sessions vary among a few dozen, and some
// requests fail. Columns that hold the same value in row after row
// (defaults, the node, the revision) cost the store less than those that
// change, which BenchmarkWriter's identical records would overstate.
func BenchmarkWriterVaried(b *testing.B, dsn string) {
	st := Open(b, dsn, store.Options{})
	w := store.NewWriter(st, store.WriterOptions{BlockTimeout: time.Minute})
	var (
		logins   = make([]string, 50)
		sessions = make([]string, 20)
		models   = []string{"claude-sonnet-4-5", "claude-opus-4-1", "gpt-5", "gpt-5-mini", "gemini-2.5-pro", "o3"}
		agents   = []string{"claude-cli/2.1.0 (external, cli)", "codex_cli_rs/0.40.0", "OpenAI/Python 1.99.0", "curl/8.5.0"}
	)
	for i := range logins {
		logins[i] = fmt.Sprintf("user%02d@example.com", i)
	}
	for i := range sessions {
		sessions[i] = fmt.Sprintf("session-%04d", i)
	}
	recs := make([]store.Record, 997) // a prime: rows of a statement differ from batch to batch
	for i := range recs {
		r := store.Record{
			Login: logins[i%len(logins)], Model: models[i%len(models)], UserAgent: agents[i%len(agents)],
			Provider: "anthropic", Format: "anthropic_messages", Method: "POST", Path: "/v1/messages",
			Tailnet: "example.com", NodeID: "nABCDEF", NodeName: "gateway-1", Revision: "v1.8.0", Instance: "gw-1",
			Stream: i%3 != 0, Status: 200, Latency: time.Duration(300+i*7%4000) * time.Millisecond, TTFB: time.Duration(100+i*3%900) * time.Millisecond,
			Usage:   usage.Tokens{Input: usage.Of(int64(1000 + i*37%20000)), Output: usage.Of(int64(20 + i*13%3000)), CacheRead: usage.Of(int64(i * 101 % 50000))},
			CostUSD: float64(i%977) / 10000, CostKnown: true, RequestBytes: int64(2000 + i*53%90000), ResponseBytes: int64(500 + i*29%30000),
			RequestedModel: models[i%len(models)],
		}
		if i%4 == 0 {
			r.SessionID = sessions[i%len(sessions)]
		}
		if i%5 == 0 {
			r.ToolCalls = 1 + i%3
		}
		if i%50 == 0 {
			r.Status, r.Error, r.ErrorKind, r.Usage = 502, "upstream: connection reset by peer", "upstream", usage.Tokens{}
			r.CostKnown, r.CostUSD = false, 0
		}
		recs[i] = r
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	cpu0 := cputime.Process()
	for i := range b.N {
		r := recs[i%len(recs)]
		r.Time = T0.Add(time.Duration(i) * time.Millisecond / 8)
		r.ID = store.NewID(r.Time)
		w.Write(r)
	}
	if err := w.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if s := w.Stats(); s.Written != int64(b.N) {
		b.Fatalf("stats %+v, want %d written", s, b.N)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "rows/s")
	b.ReportMetric(float64(cputime.Process()-cpu0)/float64(b.N), "cpu-ns/row")
}

// BenchmarkWriter measures the write path: b.N records through a Writer
// into the database at dsn, until Close has stored them all. It reports
// rows/s, and the CPU time this process spent per row (cpu-ns/row, the
// client's side of the write path: on PostgreSQL the server's work is not
// in it), which a machine busy with other work disturbs less.
func BenchmarkWriter(b *testing.B, dsn string) {
	st := Open(b, dsn, store.Options{})
	w := store.NewWriter(st, store.WriterOptions{BlockTimeout: time.Minute})
	r := rec("", "alice@example.com", "claude-sonnet-4-5", T0)
	r.UserAgent, r.Path, r.Tailnet, r.NodeID = "claude-cli/2.1.0 (external, cli)", "/v1/messages", "example.com", "nABCDEF"
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	cpu0 := cputime.Process()
	for i := range b.N {
		r.Time = T0.Add(time.Duration(i) * time.Millisecond / 8) // 8,000 requests a second
		r.ID = store.NewID(r.Time)
		w.Write(r)
	}
	if err := w.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if s := w.Stats(); s.Written != int64(b.N) {
		b.Fatalf("stats %+v, want %d written", s, b.N)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "rows/s")
	b.ReportMetric(float64(cputime.Process()-cpu0)/float64(b.N), "cpu-ns/row")
}
