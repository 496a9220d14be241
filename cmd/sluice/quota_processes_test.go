package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/proxy/proxytest"
	"github.com/sluice-gateway/sluice/quota"
	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/store/storetest"
)

// processQuotaConfig prices gpt-5 at $2,000 per million output tokens and
// nothing for input: a request with max_tokens 20 reserves $0.04, and the
// fixtures' answers (10 output tokens) cost $0.02.
const processQuotaConfig = `{
	"providers": {
		"openai": {"baseurl": "UPSTREAM", "apikey": "k", "models": ["gpt-5"]},
		"streaming": {"baseurl": "UPSTREAM/s", "apikey": "k", "models": ["gpt-5-s"]},
	},
	"pricing": {
		"gpt-5": {"input": 0, "output": 2000},
		"gpt-5-s": {"input": 0, "output": 2000},
	},
	"quotas": {"daily:<user>": {"capacity": "$1.00", "rate": "$1.00/week"}},
	"temp_grants": [{"src": ["*"], "grants": [
		{"role": "user"},
		{"providers": [{"provider": "*", "model": "*"}]},
		{"quotas": [{"bucket": "daily:<user>"}]},
	]}],
}`

// TestQuotaHoldsAcrossProcesses runs three `sluice serve` processes on one
// PostgreSQL database and sends them 200 parallel requests, half streamed,
// against one $1.00 bucket: what the answers cost may pass $1.00 by at most
// one request's reservation, and the stored balance is exactly $1.00 minus
// that cost.
func TestQuotaHoldsAcrossProcesses(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "sluice")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	up := proxytest.NewUpstream(t)
	up.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "application/json",
		Body: proxytest.Fixture(t, "openai_chat/text.json"), Delay: 2 * time.Millisecond})
	up.Handle("/s/v1/chat/completions", proxytest.Reply{ContentType: "text/event-stream",
		Body: proxytest.Fixture(t, "openai_chat/text.sse"), Gap: time.Millisecond})
	config := filepath.Join(dir, "sluice.hujson")
	if err := os.WriteFile(config, []byte(strings.ReplaceAll(processQuotaConfig, "UPSTREAM", up.URL)), 0o600); err != nil {
		t.Fatal(err)
	}

	var addrs []string
	var procs []*exec.Cmd
	for i := range 3 {
		cmd := exec.Command(bin, "serve", "--config", config, "--listen", "127.0.0.1:0", "--db", dsn,
			"--state-dir", filepath.Join(dir, fmt.Sprintf("state%d", i)), "--local-user", "alice@example.com", "--access-log=false")
		addrs = append(addrs, startProcess(t, cmd))
		procs = append(procs, cmd)
	}

	const n = 200
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 2 * time.Minute}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			model, streamed := "gpt-5", i%2 == 1
			if streamed {
				model = "gpt-5-s"
			}
			body := fmt.Sprintf(`{"model":%q,"max_tokens":20,"stream":%v,"messages":[{"role":"user","content":"hi %d"}]}`, model, streamed, i)
			resp, err := client.Post(addrs[i%len(addrs)]+"/v1/chat/completions", "application/json", strings.NewReader(body))
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
	// A clean stop settles every request and writes the request log.
	for _, p := range procs {
		p.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range procs {
		if err := p.Wait(); err != nil {
			t.Errorf("sluice serve: %v", err)
		}
	}
	if statuses[200]+statuses[429] != n || statuses[429] == 0 {
		t.Fatalf("statuses %v; want only 200 and 429, some of each", statuses)
	}

	st := storetest.Open(t, dsn, store.Options{})
	ctx := context.Background()
	var spent quota.Amount
	rows := 0
	p := store.Page{Limit: store.MaxLimit}
	for {
		page, err := st.Requests(ctx, store.Filter{}, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Records {
			rows++
			if r.Status == 200 {
				if !r.CostKnown {
					t.Fatalf("record without a cost: %+v", r)
				}
				spent += quota.Amount(r.CostUSD*1e9 + 0.5)
			}
		}
		if page.Next == "" {
			break
		}
		p.Cursor = page.Next
	}
	if rows != n {
		t.Errorf("%d request log rows, want %d", rows, n)
	}
	reservation := 20 * 2000 * quota.Amount(1000)
	if spent > quota.Dollar+reservation {
		t.Errorf("answers cost %v against a $1.00 bucket; overshoot beyond one reservation (%v)", spent, reservation)
	}
	bals, err := st.Balances(ctx, []string{"daily:alice@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	got := bals["daily:alice@example.com"].Amount
	if want := quota.Dollar - spent; got < want || got > want+quota.Dollar/10_000 {
		t.Errorf("balance %v, want %v (capacity minus the %d answers' cost)", got, want, statuses[200])
	}
	t.Logf("three processes: %v; spent %v of $1.00, balance %v", statuses, spent, got)
}

var servingLineRE = regexp.MustCompile(`serving on (\S+) `)

// startProcess starts cmd and returns the address it announces; the
// process is killed when the test ends if it is still running.
func startProcess(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := servingLineRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case addr := <-found:
		if !strings.HasPrefix(addr, "http://127.0.0.1:") {
			t.Fatalf("sluice serve announced %q, want a loopback URL", addr)
		}
		return addr
	case <-time.After(60 * time.Second):
		t.Fatalf("sluice serve did not start: %s", stderr.String())
		return ""
	}
}

// TestQuotaBalanceSurvivesRestart: on SQLite the balances live in the
// process; a clean stop writes them back, so the next start charges on.
func TestQuotaBalanceSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	up := proxytest.NewUpstream(t)
	up.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "application/json", Body: proxytest.Fixture(t, "openai_chat/text.json")})
	config := filepath.Join(dir, "sluice.hujson")
	if err := os.WriteFile(config, []byte(strings.ReplaceAll(processQuotaConfig, "UPSTREAM", up.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	args := []string{"--config", config, "--listen", "127.0.0.1:0", "--state-dir", state, "--local-user", "alice@example.com", "--access-log=false"}
	balance := func(base string) int64 {
		t.Helper()
		resp, err := http.Get(base + "/api/quotas")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Quotas []struct {
				Bucket  string
				Current int64
			}
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Quotas) != 1 {
			t.Fatalf("GET /api/quotas: %v %+v", err, out)
		}
		return out.Quotas[0].Current
	}

	base, _, stop := startServe(t, args...)
	for range 3 {
		resp, err := http.Post(base+"/v1/chat/completions", "application/json",
			strings.NewReader(`{"model":"gpt-5","max_tokens":20,"messages":[{"role":"user","content":"hi"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	// A request settles just after its client has the answer.
	before := balance(base)
	for deadline := time.Now().Add(10 * time.Second); before < 940_000_000 && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		before = balance(base)
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
	base, _, _ = startServe(t, args...)
	after := balance(base)
	// Three answers at $0.02; the weekly refill adds a few nanodollars.
	if before < 940_000_000 || before > 940_100_000 || after < before || after > before+100_000 {
		t.Errorf("balance %d before the restart, %d after; want $0.94 both times", before, after)
	}
}
