package hooks

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/policy"
)

func TestDeliveryHeaders(t *testing.T) {
	tests := []struct {
		name       string
		auth       string
		key        string
		wantHeader string // header that must carry the key
		wantValue  string
	}{
		{"bearer", policy.AuthBearer, "k1", "Authorization", "Bearer k1"},
		{"empty type means bearer", "", "k2", "Authorization", "Bearer k2"},
		{"x-api-key", policy.AuthXAPIKey, "k3", "X-Api-Key", "k3"},
		{"x-goog-api-key", policy.AuthXGoogAPIKey, "k4", "X-Goog-Api-Key", "k4"},
		{"no key, no header", policy.AuthBearer, "", "", ""},
	}
	authHeaders := []string{"Authorization", "X-Api-Key", "X-Goog-Api-Key"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, nil)
			d, _ := newTestDispatcher(t, Options{})
			h := rc.hook("h")
			h.Authorization, h.APIKey = tt.auth, tt.key
			d.Enqueue(h, NewPayload(policy.EventEntireRequest, nil, testMetadata, Data{}))
			drain(t, d)
			got := rc.requests()
			if len(got) != 1 {
				t.Fatalf("hook got %d calls, want 1", len(got))
			}
			hdr := got[0].Header
			for _, name := range authHeaders {
				want := ""
				if name == tt.wantHeader {
					want = tt.wantValue
				}
				if v := hdr.Get(name); v != want {
					t.Errorf("%s = %q, want %q", name, v, want)
				}
			}
			if ct := hdr.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if ua := hdr.Get("User-Agent"); ua != UserAgent {
				t.Errorf("User-Agent = %q, want %q", ua, UserAgent)
			}
			if id := hdr.Get(HeaderDelivery); !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
				t.Errorf("%s = %q, want 32 hex digits", HeaderDelivery, id)
			}
			if ev := hdr.Get(HeaderEvent); ev != policy.EventEntireRequest {
				t.Errorf("%s = %q", HeaderEvent, ev)
			}
		})
	}
}

func TestDeliveryOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		respond   respondFunc
		dead      bool
		timeout   time.Duration
		wantCalls int // -1: no receiver
		want      Stats
	}{
		{name: "ok", respond: answer(200, `{}`), wantCalls: 1, want: Stats{Delivered: 1}},
		{name: "204 is success", respond: answer(204, ``), wantCalls: 1, want: Stats{Delivered: 1}},
		{name: "500 then 200 is retried once", respond: func(n int, w http.ResponseWriter, r *http.Request) {
			answer([]int{500, 200}[min(n, 1)], `{}`)(n, w, r)
		}, wantCalls: 2, want: Stats{Delivered: 1, Retried: 1}},
		{name: "429 then 200 is retried", respond: func(n int, w http.ResponseWriter, r *http.Request) {
			answer([]int{429, 200}[min(n, 1)], `{}`)(n, w, r)
		}, wantCalls: 2, want: Stats{Delivered: 1, Retried: 1}},
		{name: "always 503 gives up after MaxAttempts", respond: answer(503, ``), wantCalls: 3, want: Stats{Failed: 1, Retried: 2}},
		{name: "400 is not retried", respond: answer(400, `{"error":"bad"}`), wantCalls: 1, want: Stats{Failed: 1}},
		{name: "401 is not retried", respond: answer(401, ``), wantCalls: 1, want: Stats{Failed: 1}},
		{name: "redirect is not followed", respond: func(_ int, w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}, wantCalls: 1, want: Stats{Failed: 1}},
		{name: "slow hook past its timeout", respond: hang, timeout: 20 * time.Millisecond, wantCalls: 3, want: Stats{Failed: 1, Retried: 2}},
		{name: "dead hook", dead: true, wantCalls: -1, want: Stats{Failed: 1, Retried: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, tt.respond)
			d, logs := newTestDispatcher(t, Options{MaxAttempts: 3})
			h := rc.hook("h")
			if tt.timeout > 0 {
				h.Timeout = tt.timeout
			}
			if tt.dead {
				h.URL = deadURL(t)
			}
			h.URL += "?token=URLSECRET" // a webhook URL may embed a secret
			start := time.Now()
			if !d.Enqueue(h, NewPayload(policy.EventEntireRequest, nil, testMetadata, Data{})) {
				t.Fatal("Enqueue refused")
			}
			if time.Since(start) > 10*time.Millisecond {
				t.Errorf("Enqueue took %v; it must not wait for the hook", time.Since(start))
			}
			drain(t, d)
			if got := d.Stats()["h"]; got != tt.want {
				t.Errorf("Stats = %+v, want %+v", got, tt.want)
			}
			got := rc.requests()
			if tt.wantCalls >= 0 && len(got) != tt.wantCalls {
				t.Fatalf("hook got %d calls, want %d", len(got), tt.wantCalls)
			}
			for i, r := range got {
				if id := r.Header.Get(HeaderDelivery); id != got[0].Header.Get(HeaderDelivery) {
					t.Errorf("attempt %d has delivery ID %q, want the first attempt's %q", i+1, id, got[0].Header.Get(HeaderDelivery))
				}
				if a := r.Header.Get(HeaderAttempt); a != string(rune('1'+i)) {
					t.Errorf("attempt %d has %s %q", i+1, HeaderAttempt, a)
				}
			}
			if tt.want.Failed > 0 && !strings.Contains(logs.String(), "hook delivery failed") {
				t.Errorf("failure not logged; log:\n%s", logs)
			}
			if strings.Contains(logs.String(), "URLSECRET") {
				t.Errorf("log shows the hook URL:\n%s", logs)
			}
		})
	}
}

func TestBackoffBetweenRetries(t *testing.T) {
	rc := newReceiver(t, answer(500, ``))
	var waits []int
	d, _ := newTestDispatcher(t, Options{MaxAttempts: 4, Backoff: func(n int) time.Duration {
		waits = append(waits, n) // called from the one worker only
		return time.Millisecond
	}, Workers: 1})
	d.Enqueue(rc.hook("h"), NewPayload(policy.EventEntireRequest, nil, testMetadata, Data{}))
	drain(t, d)
	if len(waits) != 3 || waits[0] != 1 || waits[2] != 3 {
		t.Errorf("backoff asked for retries %v, want [1 2 3]", waits)
	}
}

func TestExponential(t *testing.T) {
	b := Exponential(100*time.Millisecond, time.Second)
	tests := []struct {
		retry    int
		min, max time.Duration
	}{
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 100 * time.Millisecond, 200 * time.Millisecond},
		{3, 200 * time.Millisecond, 400 * time.Millisecond},
		{5, 500 * time.Millisecond, time.Second},
		{40, 500 * time.Millisecond, time.Second},
		{1 << 30, 500 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		seen := map[time.Duration]bool{}
		for range 50 {
			w := b(tt.retry)
			if w < tt.min || w > tt.max {
				t.Errorf("retry %d waited %v, want within [%v, %v]", tt.retry, w, tt.min, tt.max)
			}
			seen[w] = true
		}
		if len(seen) < 2 {
			t.Errorf("retry %d: no jitter across 50 draws", tt.retry)
		}
	}
	if w := Exponential(time.Hour, time.Duration(1<<62))(70); w <= 0 {
		t.Errorf("a long backoff overflowed to %v", w)
	}
}

func TestQueueFullDrops(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 0 {
			<-release
		}
	})
	d, logs := newTestDispatcher(t, Options{Workers: 1, QueueSize: 2})
	h := rc.hook("h")
	h.Timeout = 0
	p := NewPayload(policy.EventEntireRequest, nil, testMetadata, Data{})
	if !d.Enqueue(h, p) {
		t.Fatal("first Enqueue refused")
	}
	rc.waitFor(t, 1) // the only worker is now busy
	var queued, dropped int
	for range 5 {
		start := time.Now()
		if d.Enqueue(h, p) {
			queued++
		} else {
			dropped++
		}
		if time.Since(start) > 10*time.Millisecond {
			t.Errorf("Enqueue blocked for %v on a full queue", time.Since(start))
		}
	}
	if queued != 2 || dropped != 3 {
		t.Errorf("queued %d, dropped %d; want 2 and 3", queued, dropped)
	}
	if got := d.Stats()["h"].Dropped; got != 3 {
		t.Errorf("Dropped = %d, want 3", got)
	}
	close(release)
	drain(t, d)
	if got := d.Stats()["h"]; got != (Stats{Delivered: 3, Dropped: 3}) {
		t.Errorf("Stats = %+v, want 3 delivered, 3 dropped", got)
	}
	if n := len(rc.requests()); n != 3 {
		t.Errorf("hook got %d calls, want 3", n)
	}
	if !strings.Contains(logs.String(), "hook deliveries dropped") || !strings.Contains(logs.String(), "queue full") {
		t.Errorf("drop not logged; log:\n%s", logs)
	}
}

func TestDropLogsAccountForEveryDrop(t *testing.T) {
	d, logs := newTestDispatcher(t, Options{})
	d.dropLogEvery = 30 * time.Millisecond
	drain(t, d) // closed: every Enqueue drops
	h := &policy.Hook{Name: "h", URL: "http://127.0.0.1:1/"}
	for range 5 {
		d.Enqueue(h, Payload{})
	}
	// The first drop is logged at once, the other four at the end of the
	// rate-limit interval.
	deadline := time.Now().Add(3 * time.Second)
	for !strings.Contains(logs.String(), "dropped=4") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	out := logs.String()
	if !strings.Contains(out, "dropped=1 ") || !strings.Contains(out, "dropped=4 ") || !strings.Contains(out, "dropped_total=5") {
		t.Errorf("drop logs do not add up to 5:\n%s", out)
	}
}

func TestShutdownDrains(t *testing.T) {
	rc := newReceiver(t, func(int, http.ResponseWriter, *http.Request) { time.Sleep(5 * time.Millisecond) })
	d, _ := newTestDispatcher(t, Options{Workers: 2})
	h := rc.hook("h")
	for range 10 {
		if !d.Enqueue(h, NewPayload(policy.EventEntireRequest, nil, testMetadata, Data{})) {
			t.Fatal("Enqueue refused")
		}
	}
	drain(t, d)
	if n := len(rc.requests()); n != 10 {
		t.Errorf("after Shutdown the hook got %d calls, want all 10", n)
	}
	if d.Enqueue(h, NewPayload(policy.EventEntireRequest, nil, testMetadata, Data{})) {
		t.Error("Enqueue accepted a delivery after Shutdown")
	}
	if got := d.Stats()["h"]; got != (Stats{Delivered: 10, Dropped: 1}) {
		t.Errorf("Stats = %+v, want 10 delivered, 1 dropped", got)
	}
	if d.Queued() != 0 {
		t.Errorf("Queued() = %d after Shutdown", d.Queued())
	}
}

func TestShutdownDeadlineDrops(t *testing.T) {
	var calls atomic.Int32
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		hang(n, w, r)
	})
	d, _ := newTestDispatcher(t, Options{Workers: 1})
	h := rc.hook("h")
	h.Timeout = 0 // no timeout: only shutdown bounds the call
	for range 3 {
		d.Enqueue(h, NewPayload(policy.EventEntireRequest, nil, testMetadata, Data{}))
	}
	rc.waitFor(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := d.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want deadline exceeded", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Shutdown took %v past its 50ms deadline", took)
	}
	if got := d.Stats()["h"]; got != (Stats{Dropped: 3}) {
		t.Errorf("Stats = %+v, want 3 dropped", got)
	}
	if calls.Load() != 1 {
		t.Errorf("hook got %d calls after the deadline cut them off, want 1", calls.Load())
	}
}

func TestDisabledHookNeverCalled(t *testing.T) {
	rc := newReceiver(t, answer(200, `{"action":"block"}`))
	d, _ := newTestDispatcher(t, Options{})
	h := rc.hook("off")
	h.Disabled = true
	if d.Enqueue(h, NewPayload(policy.EventEntireRequest, nil, testMetadata, Data{})) {
		t.Error("Enqueue accepted a disabled hook")
	}
	v, err := d.CallPreRequest(context.Background(), []Call{{Hook: h}}, PreRequest{Metadata: testMetadata})
	if err != nil || v.Blocked || len(v.Steps) != 0 {
		t.Errorf("CallPreRequest = %+v, %v; want a plain allow", v, err)
	}
	drain(t, d)
	if n := len(rc.requests()); n != 0 {
		t.Errorf("disabled hook got %d calls", n)
	}
	if _, ok := d.Stats()["off"]; ok {
		t.Error("disabled hook shows up in Stats")
	}
}

func BenchmarkEnqueue(b *testing.B) {
	const size = 4096
	payload := NewPayload(policy.EventToolCallEntireRequest, policy.HookFields, testMetadata, fullData)
	b.Run("queued", func(b *testing.B) {
		release := make(chan struct{})
		rc := newBenchReceiver(b, release)
		d := NewDispatcher(Options{Workers: 1, QueueSize: size})
		h := &policy.Hook{Name: "h", URL: rc}
		d.Enqueue(h, payload)
		waitBusy(b, d)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if i%size == size-1 {
				b.StopTimer()
				for len(d.queue) > 0 {
					<-d.queue
				}
				b.StartTimer()
			}
			if !d.Enqueue(h, payload) {
				b.Fatal("dropped")
			}
		}
		b.StopTimer()
		close(release)
		_ = d.Shutdown(context.Background())
	})
	b.Run("full", func(b *testing.B) {
		release := make(chan struct{})
		rc := newBenchReceiver(b, release)
		d := NewDispatcher(Options{Workers: 1, QueueSize: 1, Logger: discardLogger})
		h := &policy.Hook{Name: "h", URL: rc}
		d.Enqueue(h, payload)
		waitBusy(b, d)
		d.Enqueue(h, payload)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if d.Enqueue(h, payload) {
				b.Fatal("queued on a full queue")
			}
		}
		b.StopTimer()
		close(release)
		_ = d.Shutdown(context.Background())
	})
}

var discardLogger = slog.New(slog.DiscardHandler)

// newBenchReceiver serves a hook that holds every call until release is
// closed, so the dispatcher's one worker stays busy.
func newBenchReceiver(b *testing.B, release chan struct{}) string {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	b.Cleanup(srv.Close)
	return srv.URL
}

// waitBusy waits until the worker has taken the queued delivery.
func waitBusy(b *testing.B, d *Dispatcher) {
	b.Helper()
	for range 500 {
		if d.Queued() == 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
	b.Fatal("worker never took the first delivery")
}

func BenchmarkPayloadMarshal(b *testing.B) {
	p := NewPayload(policy.EventToolCallEntireRequest, policy.HookFields, testMetadata, fullData)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.MarshalJSON(); err != nil {
			b.Fatal(err)
		}
	}
}
