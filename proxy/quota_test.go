package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluice-gateway/sluice/proxy/proxytest"
	"github.com/sluice-gateway/sluice/quota"
	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/store/storetest"
)

// quotaConfig prices gpt-5 at $2,000 per million output tokens and nothing
// for input, so a request's reservation is exactly its max_tokens × $0.002
// and the fixtures' answers (10 output tokens) cost $0.02.
const quotaConfig = `{
	"providers": {
		"openai": {"baseurl": "UPSTREAM", "apikey": "k", "models": ["gpt-5"]},
		"streaming": {"baseurl": "UPSTREAM/s", "apikey": "k", "models": ["gpt-5-s"]},
		"anthropic": {"baseurl": "UPSTREAM", "apikey": "k", "authorization": "x-api-key", "models": ["claude-sonnet-4-5"],
			"compatibility": {"anthropic_messages": true}},
		"gemini": {"baseurl": "UPSTREAM", "apikey": "k", "authorization": "x-goog-api-key", "models": ["gemini-2.5-flash"],
			"compatibility": {"openai_chat": false, "gemini_generate_content": true}},
		"bedrock": {"baseurl": "UPSTREAM", "apikey": "k", "models": ["amazon.nova-lite-v1:0"],
			"compatibility": {"openai_chat": false, "bedrock_converse": true}},
		"bedrock-invoke": {"baseurl": "UPSTREAM", "apikey": "k", "models": ["anthropic.claude-sonnet-4-5-20250929-v1:0"],
			"compatibility": {"openai_chat": false, "bedrock_model_invoke": true}},
	},
	"pricing": {
		"gemini-2.5-flash": {"input": 0, "output": 2000},
		"amazon.nova-lite-v1:0": {"input": 0, "output": 2000},
		"gpt-5": {"input": 0, "output": 2000},
		"gpt-5-s": {"input": 0, "output": 2000},
		"claude-sonnet-4-5": {"input": 0, "output": 2000},
		"anthropic.claude-sonnet-4-5-20250929-v1:0": {"input": 0, "output": 2000},
	},
	"quotas": {"daily:<user>": {"capacity": "$1.00", "rate": "$1.00/week", "on_exceed": "reject"}},
	"temp_grants": [{"src": ["*"], "grants": [
		{"role": "user"},
		{"providers": [{"provider": "*", "model": "*"}]},
		{"quotas": [{"bucket": "daily:<user>"}]},
	]}],
}`

func openStore(t *testing.T, dsn string) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// waitSettled waits until bucket's stored balance is at least min: a
// request settles when its record is written, just after the client has
// the whole answer.
func waitSettled(t *testing.T, st store.Store, bucket string, min quota.Amount) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		bals, err := st.Balances(context.Background(), []string{bucket})
		if err != nil {
			t.Fatal(err)
		}
		if bals[bucket].Amount >= min {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("bucket %s at %v, want at least %v once settled", bucket, bals[bucket].Amount, min)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestQuotaHoldsUnderConcurrency sends 200 parallel requests, half of them
// streamed, against a $1.00 bucket. Each reserves $0.04 (max_tokens 20) and
// costs $0.02: the bucket must end spent by no more than $1.00 plus one
// reservation, every refused request must be a 429 with Retry-After, and
// the stored balance must be exactly what the answers cost.
func TestQuotaHoldsUnderConcurrency(t *testing.T) {
	for _, db := range []struct {
		name     string
		dsn      func(t *testing.T) string
		gateways int
	}{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "sluice.db") }, 1},
		{"postgres", func(t *testing.T) string { return storetest.PostgresDSN(t) }, 1},
		// Three gateways, each with its own connection pool, as three
		// replicas sharing one database.
		{"postgres-3-gateways", func(t *testing.T) string { return storetest.PostgresDSN(t) }, 3},
	} {
		t.Run(db.name, func(t *testing.T) {
			dsn := db.dsn(t)
			var gws []*gateway
			var st store.Store
			for range db.gateways {
				st = openStore(t, dsn)
				gw := newGateway(t, quotaConfig, "alice@example.com", func(o *Options) { o.Store = st })
				gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "application/json",
					Body: proxytest.Fixture(t, "openai_chat/text.json"), Delay: 2 * time.Millisecond})
				gw.upstream.Handle("/s/v1/chat/completions", proxytest.Reply{ContentType: "text/event-stream",
					Body: proxytest.Fixture(t, "openai_chat/text.sse"), Gap: time.Millisecond})
				gws = append(gws, gw)
			}
			records := func() []store.Record {
				var all []store.Record
				for _, gw := range gws {
					all = append(all, gw.sink.all()...)
				}
				return all
			}

			const n = 200
			var mu sync.Mutex
			statuses := map[int]int{}
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					model, streamed := "gpt-5", i%2 == 1
					if streamed {
						model = "gpt-5-s"
					}
					body := fmt.Sprintf(`{"model":%q,"max_tokens":20,"stream":%v,"messages":[{"role":"user","content":"hi %d"}]}`, model, streamed, i)
					req, _ := http.NewRequest(http.MethodPost, gws[i%len(gws)].URL+"/v1/chat/completions", strings.NewReader(body))
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
						t.Error("429 without Retry-After")
					}
					mu.Lock()
					statuses[resp.StatusCode]++
					mu.Unlock()
				}()
			}
			wg.Wait()
			// Every record is written after its request settled.
			for deadline := time.Now().Add(time.Minute); len(records()) < n; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%d records of %d", len(records()), n)
				}
			}
			if statuses[200]+statuses[429] != n || statuses[429] == 0 {
				t.Fatalf("statuses %v; want only 200 and 429, some of each", statuses)
			}
			var spent quota.Amount
			for _, r := range records() {
				if r.Status == 200 {
					if !r.CostKnown {
						t.Fatalf("record without a cost: %+v", r)
					}
					spent += quota.Amount(r.CostUSD*1e9 + 0.5)
				}
			}
			reservation := 20 * 2000 * quota.Amount(1000) // 20 tokens × $2000/M
			if spent > quota.Dollar+reservation {
				t.Errorf("answers cost %v against a $1.00 bucket; overshoot beyond one reservation (%v)", spent, reservation)
			}
			bals, err := st.Balances(context.Background(), []string{"daily:alice@example.com"})
			if err != nil {
				t.Fatal(err)
			}
			// The stored balance is what the answers cost (the weekly
			// refill adds under $0.0001 in a test's time).
			got := bals["daily:alice@example.com"].Amount
			if want := quota.Dollar - spent; got < want || got > want+quota.Dollar/10_000 {
				t.Errorf("balance %v, want %v (capacity minus the %d answers' cost)", got, want, statuses[200])
			}
			t.Logf("%s: %v; spent %v of $1.00, balance %v", db.name, statuses, spent, got)
		})
	}
}

// TestQuotaRefusal: a request whose reservation the bucket cannot cover is
// refused with 429, Retry-After (seconds until the refill covers it) and
// the caller's API format's rate-limit error; a request that can never fit
// gets no Retry-After.
func TestQuotaRefusal(t *testing.T) {
	config := strings.Replace(quotaConfig, `"rate": "$1.00/week"`, `"rate": "$1.00/hour"`, 1)
	st := openStore(t, filepath.Join(t.TempDir(), "sluice.db"))
	gw := newGateway(t, config, "alice@example.com", func(o *Options) { o.Store = st })
	gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "application/json", Body: proxytest.Fixture(t, "openai_chat/text.json")})
	post := func(path, body string, header map[string]string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, gw.URL+path, strings.NewReader(body))
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	// $1.00 reserved, $0.02 charged: $0.98 left.
	if resp, body := post("/v1/chat/completions", `{"model":"gpt-5","max_tokens":500,"messages":[]}`, nil); resp.StatusCode != 200 {
		t.Fatalf("first request: %d %s", resp.StatusCode, body)
	}
	waitSettled(t, st, "daily:alice@example.com", quota.Dollar*98/100)
	tests := []struct {
		name, path, body string
		header           map[string]string
		retryAfter       string
		want             []string
	}{
		{"openai", "/v1/chat/completions", `{"model":"gpt-5","max_tokens":495,"messages":[]}`, nil, "36",
			[]string{`"type":"rate_limit_error"`, `"code":"rate_limit_exceeded"`, `quota \"daily:alice@example.com\" has $0.98`}},
		{"anthropic", "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":495,"messages":[]}`, map[string]string{"anthropic-version": "2023-06-01"}, "36",
			[]string{`"type":"error"`, `"type":"rate_limit_error"`, `needs up to $0.99`}},
		{"gemini", "/v1beta/models/gemini-2.5-flash:generateContent", `{"contents":[],"generationConfig":{"maxOutputTokens":495}}`, nil, "36",
			[]string{`"status":"RESOURCE_EXHAUSTED"`, `"code":429`}},
		{"bedrock converse", "/bedrock/model/amazon.nova-lite-v1:0/converse", `{"messages":[],"inferenceConfig":{"maxTokens":495}}`, nil, "36",
			[]string{`"message":"quota \"daily:alice@example.com\" has $0.98`}},
		{"never fits", "/v1/chat/completions", `{"model":"gpt-5","max_tokens":600,"messages":[]}`, nil, "",
			[]string{`"type":"rate_limit_error"`, `it never refills that much`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(tt.path, tt.body, tt.header)
			// One second less when the machine was slow enough for a
			// second of refill to count.
			ra := resp.Header.Get("Retry-After")
			if ra != tt.retryAfter && tt.retryAfter == "36" && ra == "35" {
				ra = "36"
			}
			if resp.StatusCode != http.StatusTooManyRequests || ra != tt.retryAfter {
				t.Fatalf("status %d Retry-After %q, want 429 %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), tt.retryAfter, body)
			}
			if tt.name == "bedrock converse" && !strings.HasPrefix(resp.Header.Get("X-Amzn-Errortype"), "ThrottlingException") {
				t.Errorf("x-amzn-ErrorType %q, want ThrottlingException", resp.Header.Get("X-Amzn-Errortype"))
			}
			compact := strings.NewReplacer(`": "`, `":"`, `", "`, `","`).Replace(body)
			for _, w := range tt.want {
				if !strings.Contains(compact, w) {
					t.Errorf("body lacks %s:\n%s", w, body)
				}
			}
		})
	}
	if got := len(gw.upstream.Received()); got != 1 {
		t.Errorf("upstream got %d requests; refused ones must not be forwarded", got)
	}
	// Counted by the bucket as configured, not by each user's bucket.
	if got := testutil.ToFloat64(gw.srv.metrics.quotaRefused.WithLabelValues("daily:<user>")); got != float64(len(tests)) {
		t.Errorf("sluice_quota_rejections_total{bucket=\"daily:<user>\"} = %v, want %d", got, len(tests))
	}
}

// TestQuotaReleasedWhenNothingAnswered: a reservation comes back whole when
// the provider fails, and per-user buckets keep users apart.
func TestQuotaReleasedWhenNothingAnswered(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "sluice.db"))
	gw := newGateway(t, quotaConfig, "bob@example.com", func(o *Options) { o.Store = st })
	gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{Status: 500, ContentType: "application/json",
		Body: []byte(`{"error":{"message":"upstream exploded","type":"server_error"}}`)})
	for range 3 {
		resp, err := http.Post(gw.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"gpt-5","max_tokens":400,"messages":[]}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 500 {
			t.Fatalf("status %d, want the upstream's 500 (reservation $0.80 of $1.00 released each time)", resp.StatusCode)
		}
		waitSettled(t, st, "daily:bob@example.com", quota.Dollar)
	}
	bals, err := st.Balances(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(bals) != 1 || bals["daily:bob@example.com"].Amount < quota.Dollar-quota.Dollar/10_000 {
		t.Errorf("balances %v; want only bob's bucket, back at $1.00", bals)
	}
}

// TestQuotaAPI: a user reads their own buckets, an admin every bucket;
// only an admin refills, and never past capacity.
func TestQuotaAPI(t *testing.T) {
	config := strings.Replace(quotaConfig, `"temp_grants": [`, `"temp_grants": [{"src": ["root@example.com"], "grants": [{"role": "admin"}]},`, 1)
	config = strings.Replace(config, `"quotas": {"daily:<user>"`, `"quotas": {"shared": {"capacity": "$50.00"}, "daily:<user>"`, 1)
	config = strings.Replace(config, `{"quotas": [{"bucket": "daily:<user>"}]}`, `{"quotas": [{"bucket": "daily:<user>"}]}, {"quotas": [{"bucket": "shared"}]}`, 1)
	st := openStore(t, filepath.Join(t.TempDir(), "sluice.db"))
	alice := newGateway(t, config, "alice@example.com", func(o *Options) { o.Store = st })
	bob := newGateway(t, config, "bob@example.com", func(o *Options) { o.Store = st })
	root := newGateway(t, config, "root@example.com", func(o *Options) { o.Store = st })
	for _, gw := range []*gateway{alice, bob} {
		gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "application/json", Body: proxytest.Fixture(t, "openai_chat/text.json")})
		resp, err := http.Post(gw.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"gpt-5","max_tokens":100,"messages":[]}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	waitSettled(t, st, "daily:alice@example.com", quota.Dollar*98/100)
	waitSettled(t, st, "daily:bob@example.com", quota.Dollar*98/100)
	waitSettled(t, st, "shared", 50*quota.Dollar-4*quota.Dollar/100)
	type status struct {
		Bucket, Config, Rate, Balance string
		Current, Capacity             int64
	}
	call := func(gw *gateway, method, path, body string) (int, []status) {
		t.Helper()
		req, _ := http.NewRequest(method, gw.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct{ Quotas []status }
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out.Quotas
	}
	code, got := call(alice, "GET", "/api/quotas", "")
	want := []status{
		{Bucket: "shared", Config: "shared", Rate: "", Balance: "$49.96", Current: 49_960_000_000, Capacity: 50_000_000_000},
		{Bucket: "daily:alice@example.com", Config: "daily:<user>", Rate: "$1.00/week", Balance: "$0.98", Current: 980_000_000, Capacity: 1_000_000_000},
	}
	// The weekly refill may add a few nanodollars between the calls.
	approx := cmp.Comparer(func(a, b int64) bool { return a-b < 10_000 && b-a < 10_000 })
	ignoreBalance := cmpopts.IgnoreFields(status{}, "Balance")
	if code != 200 || !cmp.Equal(want, got, approx, ignoreBalance) {
		t.Errorf("alice GET /api/quotas: %d\n%s", code, cmp.Diff(want, got, approx, ignoreBalance))
	}
	code, got = call(root, "GET", "/api/quotas", "")
	var names []string
	for _, s := range got {
		names = append(names, s.Bucket)
	}
	if code != 200 || !slices.Equal(names, []string{"shared", "daily:alice@example.com", "daily:bob@example.com"}) {
		t.Errorf("admin GET /api/quotas: %d %v; want every bucket", code, names)
	}
	if code, _ := call(alice, "POST", "/api/quotas/refill", `{"bucket": "daily:alice@example.com", "amount": "$1.00"}`); code != http.StatusForbidden {
		t.Errorf("alice refilled her own bucket: %d, want 403", code)
	}
	code, got = call(root, "POST", "/api/quotas/refill", `{"bucket": "daily:alice@example.com", "amount": "$5.00"}`)
	if code != 200 || len(got) != 1 || got[0].Current != 1_000_000_000 {
		t.Errorf("admin refill: %d %+v; want alice's bucket at its $1.00 capacity", code, got)
	}
	for _, body := range []string{`{"bucket": "nope", "amount": "$1"}`, `{"bucket": "shared", "amount": "5"}`, `{"bucket": "shared"`} {
		if code, _ := call(root, "POST", "/api/quotas/refill", body); code != 400 && code != 404 {
			t.Errorf("refill %s: %d, want 400 or 404", body, code)
		}
	}
}

// TestQuotaHookMetadata: a hook that asks for quotas gets the request's
// buckets in metadata.quotas, nanodollar integers, after settlement in the
// after-response event.
func TestQuotaHookMetadata(t *testing.T) {
	rc := newReceiver(t)
	config := strings.Replace(quotaConfig, `"temp_grants": [{"src": ["*"], "grants": [`,
		`"hooks": {"meter": {"url": "`+rc.URL+`/meter"}}, "temp_grants": [{"src": ["*"], "grants": [
		{"hook": {"match": {"events": ["pre_request", "entire_request"]}, "hook": "meter", "fields": ["quotas"]}},`, 1)
	st := openStore(t, filepath.Join(t.TempDir(), "sluice.db"))
	gw := newGateway(t, config, "alice@example.com", func(o *Options) { o.Store = st })
	gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "application/json", Body: proxytest.Fixture(t, "openai_chat/text.json")})
	resp, err := http.Post(gw.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"gpt-5","max_tokens":100,"messages":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The after-response hook is queued once the request has settled and
	// written its record, just after the client has the answer.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := gw.srv.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	drain(t, gw)
	for event, want := range map[string]float64{"pre_request": 1e9, "entire_request": 0.98e9} {
		got := rc.events(event)
		if len(got) != 1 {
			t.Fatalf("%d %s deliveries", len(got), event)
		}
		q, _ := got[0].Payload["metadata"].(map[string]any)["quotas"].(map[string]any)
		b, _ := q["daily:alice@example.com"].(map[string]any)
		if len(q) != 1 || b["capacity"] != 1e9 || b["rate"] != "$1.00/week" {
			t.Fatalf("%s metadata.quotas = %v", event, q)
		}
		if cur, _ := b["current"].(float64); cur < want || cur > want+1e5 || cur != float64(int64(cur)) {
			t.Errorf("%s current = %v, want the integer %v (plus a few nanodollars of refill)", event, b["current"], want)
		}
	}
}

// TestQuotaOverdraftChain: a request spends the personal bucket, borrows
// the rest from the team bucket it overdrafts into, and settles back to the
// team first; a chain whose last bucket is in debt refuses.
func TestQuotaOverdraftChain(t *testing.T) {
	config := strings.Replace(quotaConfig, `"quotas": {"daily:<user>": {"capacity": "$1.00", "rate": "$1.00/week", "on_exceed": "reject"}}`,
		`"quotas": {"daily:<user>": {"capacity": "$0.50", "overdraft": "team"}, "team": {"capacity": "$1.00", "rate": "$1.00/hour"}}`, 1)
	st := openStore(t, filepath.Join(t.TempDir(), "sluice.db"))
	gw := newGateway(t, config, "alice@example.com", func(o *Options) { o.Store = st })
	gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "application/json", Body: proxytest.Fixture(t, "openai_chat/text.json")})
	send := func(maxTokens int) *http.Response {
		t.Helper()
		resp, err := http.Post(gw.URL+"/v1/chat/completions", "application/json",
			strings.NewReader(fmt.Sprintf(`{"model":"gpt-5","max_tokens":%d,"messages":[]}`, maxTokens)))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	balance := func(name string) quota.Amount {
		t.Helper()
		bals, err := st.Balances(context.Background(), []string{name})
		if err != nil {
			t.Fatal(err)
		}
		return bals[name].Amount
	}
	// $0.80 reserved: $0.50 from alice's bucket, $0.30 borrowed from the
	// team's; $0.02 spent, and the $0.78 returned goes to the team first.
	if resp := send(400); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	waitSettled(t, st, "daily:alice@example.com", 48*quota.Dollar/100)
	if got := balance("team"); got < quota.Dollar-quota.Dollar/1000 {
		t.Errorf("team %v, want its $1.00 back", got)
	}
	if got := balance("daily:alice@example.com"); got != 48*quota.Dollar/100 {
		t.Errorf("alice %v, want $0.48", got)
	}
	// The team's bucket in debt blocks the chain, and alice's share of the
	// reservation comes back.
	if _, err := st.Adjust(context.Background(), &quota.Bucket{Name: "team", Capacity: quota.Dollar}, "team", -2*quota.Dollar, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp := send(400)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("blocked chain: status %d Retry-After %q, want 429 with the time until the team's bucket is positive", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if got := balance("daily:alice@example.com"); got != 48*quota.Dollar/100 {
		t.Errorf("alice %v after the refusal, want her $0.48 back", got)
	}
}

// TestQuotaChainThroughEmptyBucket: a chain whose middle bucket is empty
// still settles back into the bucket beyond it.
func TestQuotaChainThroughEmptyBucket(t *testing.T) {
	config := strings.Replace(quotaConfig, `"quotas": {"daily:<user>": {"capacity": "$1.00", "rate": "$1.00/week", "on_exceed": "reject"}}`,
		`"quotas": {"daily:<user>": {"capacity": "$0.50", "overdraft": "team"}, "team": {"capacity": "$0.10", "overdraft": "org"}, "org": {"capacity": "$1.00"}}`, 1)
	st := openStore(t, filepath.Join(t.TempDir(), "sluice.db"))
	gw := newGateway(t, config, "alice@example.com", func(o *Options) { o.Store = st })
	gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "application/json", Body: proxytest.Fixture(t, "openai_chat/text.json")})
	if _, err := st.Adjust(context.Background(), &quota.Bucket{Name: "team", Capacity: quota.Dollar / 10}, "team", -quota.Dollar/10, time.Now()); err != nil {
		t.Fatal(err)
	}
	// $0.80 reserved: $0.50 from alice, nothing from the empty team
	// bucket, $0.30 from org; $0.02 spent, the rest back to org first.
	resp, err := http.Post(gw.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"gpt-5","max_tokens":400,"messages":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	waitSettled(t, st, "org", quota.Dollar)
	bals, err := st.Balances(context.Background(), []string{"daily:alice@example.com", "team", "org"})
	if err != nil {
		t.Fatal(err)
	}
	if bals["daily:alice@example.com"].Amount != 48*quota.Dollar/100 || bals["team"].Amount != 0 || bals["org"].Amount != quota.Dollar {
		t.Errorf("balances %v; want alice $0.48, team $0.00, org back at $1.00", bals)
	}
}
