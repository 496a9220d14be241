package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/proxy/proxytest"
	"github.com/sluice-gateway/sluice/quota"
	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/store/storetest"
)

// replicaConfig has three providers; replicaConfigNext drops "legacy", so
// gpt-4o is answered under the first and refused under the second. Every
// model costs $2,000 per million output tokens: a request with max_tokens
// 20 reserves $0.04 and the fixtures' answers cost $0.02.
const replicaConfig = `{
	"providers": {
		"openai": {"baseurl": "UPSTREAM", "apikey": "k", "models": ["gpt-5"]},
		"streaming": {"baseurl": "UPSTREAM/s", "apikey": "k", "models": ["gpt-5-s"]},
		"legacy": {"baseurl": "UPSTREAM", "apikey": "k", "models": ["gpt-4o"]},
	},
	"pricing": {
		"gpt-5": {"input": 0, "output": 2000},
		"gpt-5-s": {"input": 0, "output": 2000},
		"gpt-4o": {"input": 0, "output": 2000},
	},
	"quotas": {"daily:<user>": {"capacity": "$1.00", "rate": "$1.00/week"}},
	"temp_grants": [{"src": ["*"], "grants": [
		{"role": "admin"},
		{"providers": [{"provider": "*", "model": "*"}]},
		{"quotas": [{"bucket": "daily:<user>"}]},
	]}],
}`

// replica is one `sluice serve` process of the test.
type replica struct {
	name string
	url  string
	cmd  *exec.Cmd
}

// TestReplicasShareOneDatabase runs three `sluice serve --config-source db`
// processes on one PostgreSQL schema, as a company would behind one
// tailnet name:
//
//   - a configuration saved through one replica is enforced by all three
//     within a second, and a save on a stale hash is refused with 409;
//   - GET /api/status on any replica lists all three at one revision;
//   - a $1.00 quota holds across them under parallel load;
//   - every answered request has exactly one row;
//   - one replica killed (SIGKILL) in the middle of the load: the others
//     answer everything sent to them, and, since the replicas run with
//     --durable-log, every answer a client received completely, the killed
//     replica's last ones included, has exactly one row.
func TestReplicasShareOneDatabase(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "sluice")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	up := proxytest.NewUpstream(t)
	up.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "application/json",
		Body: proxytest.Fixture(t, "openai_chat/text.json"), Delay: 5 * time.Millisecond})
	up.Handle("/s/v1/chat/completions", proxytest.Reply{ContentType: "text/event-stream",
		Body: proxytest.Fixture(t, "openai_chat/text.sse"), Gap: time.Millisecond})
	config := filepath.Join(dir, "sluice.hujson")
	first := strings.ReplaceAll(replicaConfig, "UPSTREAM", up.URL)
	if err := os.WriteFile(config, []byte(first), 0o600); err != nil {
		t.Fatal(err)
	}

	// Seed the database; SQLite is refused with a clear error.
	if out, err := exec.Command(bin, "config", "push", "--db", dsn, config).CombinedOutput(); err != nil ||
		!strings.Contains(string(out), "stored as revision 1") {
		t.Fatalf("config push: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "serve", "--config-source", "db", "--db", filepath.Join(dir, "x.db")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "needs a PostgreSQL database") {
		t.Fatalf("serve --config-source db on SQLite: %v\n%s", err, out)
	}

	var reps []*replica
	for i := range 3 {
		name := fmt.Sprintf("r%d", i)
		cmd := exec.Command(bin, "serve", "--config-source", "db", "--db", dsn, "--listen", "127.0.0.1:0",
			"--state-dir", filepath.Join(dir, name), "--replica-name", name,
			"--local-user", "alice@example.com", "--access-log=false", "--durable-log")
		reps = append(reps, &replica{name: name, url: startProcess(t, cmd), cmd: cmd})
	}
	client := &http.Client{Timeout: time.Minute}
	var ids idSet

	// Every replica answers with the revision it serves, and lists all
	// three in its status once they have reported.
	waitStatus(t, client, reps, 1)

	// A change through r1 is enforced by all three within a second.
	cur := getJSON[struct{ Hash string }](t, client, reps[1].url+"/api/config")
	next := strings.Replace(first, `"legacy": {"baseurl": "`+up.URL+`", "apikey": "k", "models": ["gpt-4o"]},`, "", 1)
	if next == first {
		t.Fatal("the test's second configuration is the first")
	}
	if code := putConfig(t, client, reps[1].url, next, cur.Hash); code != http.StatusOK {
		t.Fatalf("PUT /api/config: %d", code)
	}
	saved := time.Now()
	var slowest time.Duration
	for _, r := range reps {
		for {
			status, _, rev := chat(t, client, r.url, "gpt-4o", false, &ids)
			if status != http.StatusOK && rev == "2" {
				slowest = max(slowest, time.Since(saved))
				break
			}
			if time.Since(saved) > time.Second {
				t.Fatalf("%s still answers gpt-4o (%d, revision %q) a second after the save", r.name, status, rev)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Logf("configuration change enforced by all three replicas %v after the save returned", slowest)
	if code := putConfig(t, client, reps[2].url, first, cur.Hash); code != http.StatusConflict {
		t.Errorf("PUT on a stale hash: %d, want 409", code)
	}
	waitStatus(t, client, reps, 2)

	// Load: wave one on all three; wave two kills r2 after a few answers.
	// A request r2 cannot take goes to the next replica, as a tailnet
	// service sends it to a live host.
	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		killedAt time.Time
		byR2     []answered // r2's answers, with when they ended
		cut      idSet      // answers r2 began but did not finish
	)
	var dead atomic.Bool
	send := func(i int) {
		model, streamed := "gpt-5", i%2 == 1
		if streamed {
			model = "gpt-5-s"
		}
		for k := range len(reps) {
			r := reps[(i+k)%len(reps)]
			if r.name == "r2" && dead.Load() {
				continue
			}
			status, id, _ := chatOnce(client, r.url, model, streamed)
			if status == 0 {
				if id != "" {
					cut.add(id)
				}
				continue // r2 died under this request
			}
			mu.Lock()
			statuses[status]++
			if r.name == "r2" {
				byR2 = append(byR2, answered{id: id, at: time.Now()})
			}
			mu.Unlock()
			ids.add(id)
			return
		}
		t.Errorf("request %d: no replica answered", i)
	}
	wave := func(n int, during func(done int)) {
		var wg sync.WaitGroup
		var done atomic.Int64
		work := make(chan int)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					send(i)
					if during != nil {
						during(int(done.Add(1)))
					}
				}
			}()
		}
		for i := range n {
			work <- i
		}
		close(work)
		wg.Wait()
	}
	wave(90, nil)
	var killOnce sync.Once
	wave(90, func(done int) {
		if done == 20 {
			killOnce.Do(func() {
				dead.Store(true)
				reps[2].cmd.Process.Kill()
				mu.Lock()
				killedAt = time.Now()
				mu.Unlock()
			})
		}
	})
	reps[2].cmd.Wait()
	// The survivors stop cleanly: their logs are written.
	for _, r := range reps[:2] {
		r.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, r := range reps[:2] {
		if err := r.cmd.Wait(); err != nil {
			t.Errorf("%s: %v", r.name, err)
		}
	}
	if statuses[200] == 0 || statuses[429] == 0 || statuses[200]+statuses[429] != 180 {
		t.Errorf("statuses %v; want 180 answers, only 200 and 429, some of each", statuses)
	}

	// Rows: every answer a client received completely has exactly one,
	// r2's last ones before SIGKILL included. A row without such an answer
	// can only be r2's, of a request it was serving when killed: its row
	// committed, its answer's end never sent.
	st := storetest.Open(t, dsn, store.Options{})
	rows := map[string]store.Record{}
	p := store.Page{Limit: store.MaxLimit}
	for {
		page, err := st.Requests(context.Background(), store.Filter{}, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Records {
			if _, dup := rows[r.ID]; dup {
				t.Errorf("request %s has two rows", r.ID)
			}
			rows[r.ID] = r
		}
		if page.Next == "" {
			break
		}
		p.Cursor = page.Next
	}
	recent := 0
	for _, a := range byR2 {
		if a.at.After(killedAt.Add(-500 * time.Millisecond)) {
			recent++
		}
	}
	for id := range ids.all() {
		if _, ok := rows[id]; !ok {
			t.Errorf("answered request %s has no row", id)
		}
	}
	unfinished := 0
	for id, r := range rows {
		if ids.has(id) {
			continue
		}
		if r.Instance != "r2" {
			t.Errorf("row %s (%s) belongs to no answer a client received", id, r.Instance)
			continue
		}
		unfinished++
	}
	// At most one request per load worker was in flight at r2's death.
	if unfinished > 8 {
		t.Errorf("%d rows of r2 belong to no answer a client received; at most 8 requests were in flight", unfinished)
	}
	t.Logf("%d answers, %d rows; r2 answered %d requests, %d of them in the half second before SIGKILL; "+
		"%d answers cut after their headers; %d rows of r2 for answers no client received completely", ids.len(), len(rows), len(byR2), recent, cut.len(), unfinished)

	// The quota held across the three: at most one reservation over.
	var spent quota.Amount
	for _, r := range rows {
		if r.Status == 200 {
			spent += quota.Amount(r.CostUSD*1e9 + 0.5)
		}
	}
	reservation := 20 * 2000 * quota.Amount(1000)
	if spent > quota.Dollar+reservation {
		t.Errorf("answers cost %v against a $1.00 bucket; overshoot beyond one reservation (%v)", spent, reservation)
	}
	bals, err := st.Balances(context.Background(), []string{"daily:alice@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	// r2's requests cut by SIGKILL keep their reservations: the balance
	// may be lower than capacity minus cost, never higher.
	if got, ceiling := bals["daily:alice@example.com"].Amount, quota.Dollar-spent+quota.Dollar/10_000; got > ceiling || got < 0 {
		t.Errorf("balance %v; want between 0 and %v", got, ceiling)
	}
	t.Logf("statuses %v; spent %v of $1.00", statuses, spent)
}

type answered struct {
	id string
	at time.Time
}

// idSet collects the request IDs clients received.
type idSet struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (s *idSet) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = map[string]bool{}
	}
	s.ids[id] = true
}

func (s *idSet) has(id string) bool { s.mu.Lock(); defer s.mu.Unlock(); return s.ids[id] }
func (s *idSet) len() int           { s.mu.Lock(); defer s.mu.Unlock(); return len(s.ids) }
func (s *idSet) all() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]bool, len(s.ids))
	for id := range s.ids {
		out[id] = true
	}
	return out
}

// chatOnce sends one chat request and reads the whole answer; status 0
// means no complete answer (the connection failed), with the request ID
// when the answer's headers had arrived.
func chatOnce(client *http.Client, base, model string, stream bool) (status int, id, revision string) {
	body := fmt.Sprintf(`{"model":%q,"max_tokens":20,"stream":%v,"messages":[{"role":"user","content":"hi"}]}`, model, stream)
	resp, err := client.Post(base+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		return 0, "", ""
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		// Cut: the client has the request ID, not the answer.
		return 0, resp.Header.Get("X-Request-Id"), ""
	}
	return resp.StatusCode, resp.Header.Get("X-Request-Id"), resp.Header.Get("Sluice-Config-Revision")
}

func chat(t *testing.T, client *http.Client, base, model string, stream bool, ids *idSet) (int, string, string) {
	t.Helper()
	status, id, rev := chatOnce(client, base, model, stream)
	if status == 0 {
		t.Fatalf("%s: no answer", base)
	}
	ids.add(id)
	return status, id, rev
}

func getJSON[T any](t *testing.T, client *http.Client, url string) T {
	t.Helper()
	var v T
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return v
}

func putConfig(t *testing.T, client *http.Client, base, text, hash string) int {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"config": text, "hash": hash})
	req, _ := http.NewRequest(http.MethodPut, base+"/api/config", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Logf("PUT /api/config on %s: %d %s", base, resp.StatusCode, b)
	}
	return resp.StatusCode
}

// status is the part of GET /api/status the test reads.
type status struct {
	Replica        string `json:"replica"`
	ConfigSource   string `json:"config_source"`
	ConfigRevision int64  `json:"config_revision"`
	Drift          bool   `json:"drift"`
	Replicas       []struct {
		Replica        string `json:"replica"`
		ConfigRevision int64  `json:"config_revision"`
	} `json:"replicas"`
}

// waitStatus waits (heartbeats come every 5s) until every replica's
// status lists the three replicas at revision rev without drift, and
// checks the revision header.
func waitStatus(t *testing.T, client *http.Client, reps []*replica, rev int64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for _, r := range reps {
		for {
			resp, err := client.Get(r.url + "/api/status")
			if err != nil {
				t.Fatal(err)
			}
			var st status
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if h := resp.Header.Get("Sluice-Config-Revision"); h != fmt.Sprint(rev) {
				t.Fatalf("%s answers with Sluice-Config-Revision %q, want %d", r.name, h, rev)
			}
			if st.Replica != r.name || st.ConfigSource != "db" || st.ConfigRevision != rev {
				t.Fatalf("%s status: %+v", r.name, st)
			}
			ok := len(st.Replicas) == len(reps) && !st.Drift
			for _, h := range st.Replicas {
				ok = ok && h.ConfigRevision == rev
			}
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s status never listed %d replicas at revision %d: %+v", r.name, len(reps), rev, st)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// TestReplicaFlags: the replica flags refuse what cannot work before
// anything starts, saying why.
func TestReplicaFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"db source on postgres", []string{"--config-source", "db", "--db", "postgres://h/db"}, ""},
		{"db source without --db", []string{"--config-source", "db"}, "needs --db postgres://"},
		{"db source on SQLite", []string{"--config-source", "db", "--db", "/var/lib/sluice/sluice.db"}, "needs a PostgreSQL database"},
		{"unknown source", []string{"--config-source", "etcd"}, `want file or db`},
		{"service", []string{"--tailnet", "--tailnet-service", "svc:ai"}, ""},
		{"service without --tailnet", []string{"--tailnet-service", "svc:ai"}, "needs --tailnet"},
		{"service name without svc:", []string{"--tailnet", "--tailnet-service", "ai"}, "want a service name"},
		{"durable log", []string{"--durable-log", "--db", "postgres://h/db"}, ""},
		{"durable log without a log", []string{"--durable-log", "--db", "none"}, "--durable-log needs a request log"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			_, err := parseServeFlags(tt.args, &stderr)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one saying %q", err, tt.wantErr)
			}
		})
	}
}
