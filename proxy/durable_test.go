package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/store/storetest"
)

const durableConfig = `{
	"providers": {
		"openai": {"baseurl": "UPSTREAM", "apikey": "sk-provider-openai", "models": ["gpt-5"]},
		"streaming": {"baseurl": "UPSTREAM/s", "apikey": "sk-provider-openai", "models": ["gpt-5-s"]},
		"bedrock": {"baseurl": "UPSTREAM", "apikey": "k", "models": ["amazon.nova-lite-v1:0"],
			"compatibility": {"openai_chat": false, "bedrock_converse": true}},
	},
	"temp_grants": [{"src": ["*"], "grants": [{"role": "user"}, {"providers": [{"provider": "*", "model": "*"}]}]}],
}`

// durableCase is one kind of answer: a JSON body of 24 kB (with
// Content-Length from the upstream), server-sent events, a Bedrock event stream.
type durableCase struct {
	name, path, body string
}

func durableCases(t *testing.T, up *proxytest.Upstream) []durableCase {
	// Larger than the server's buffer, so its bytes leave before the
	// handler returns.
	big := strings.Replace(chatJSON, `"hello"`, `"`+strings.Repeat("hello ", 4000)+`"`, 1)
	up.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "application/json", Body: []byte(big),
		Header: http.Header{"Content-Length": {fmt.Sprint(len(big))}}})
	up.Handle("/s/v1/chat/completions", proxytest.Reply{ContentType: "text/event-stream",
		Body: proxytest.Fixture(t, "openai_chat/text.sse"), Gap: time.Millisecond})
	converse := "/model/amazon.nova-lite-v1%3A0/converse-stream"
	up.Handle(converse, proxytest.Reply{ContentType: "application/vnd.amazon.eventstream", Body: bedrockConverseFrames(t, 5), Gap: time.Millisecond})
	return []durableCase{
		{"json", "/v1/chat/completions", `{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}`},
		{"sse", "/v1/chat/completions", `{"model":"gpt-5-s","stream":true,"messages":[{"role":"user","content":"hi"}]}`},
		{"bedrock event stream", "/bedrock" + converse, `{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`},
	}
}

// protocols are the client protocols the gateway serves.
func durableClients() map[string]*http.Client {
	h2 := &http.Transport{Protocols: new(http.Protocols)}
	h2.Protocols.SetUnencryptedHTTP2(true)
	return map[string]*http.Client{"http1": {Timeout: 10 * time.Second}, "h2c": {Transport: h2, Timeout: 10 * time.Second}}
}

// fetch sends one request and reads the whole answer: ok is false when
// the client could not take it for a complete answer; length is the
// answer's Content-Length, -1 when it had none.
func fetch(client *http.Client, url, body string) (id string, status int, length int64, ok bool) {
	resp, err := client.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return "", 0, 0, false
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.Header.Get(headerRequestID), resp.StatusCode, resp.ContentLength, err == nil
}

// TestDurableLogAnswerImpliesRow: with DurableLog, a client that has read
// a complete answer (JSON, SSE, Bedrock event stream; HTTP/1.1 and h2c)
// finds its row in the database at that moment, although the Writer's
// timer would not flush for an hour and each commit takes 50ms, and the
// JSON answer came without Content-Length. Without it, the row is still in
// memory then: what a crash would lose.
func TestDurableLogAnswerImpliesRow(t *testing.T) {
	for _, durable := range []bool{true, false} {
		t.Run(fmt.Sprintf("durable=%v", durable), func(t *testing.T) {
			st := openStore(t, filepath.Join(t.TempDir(), "sluice.db"))
			sp, err := store.OpenSpool(filepath.Join(t.TempDir(), "spool"), store.SpoolOptions{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { sp.Close() })
			// Commits that take a while: an answer completed before its
			// commit would be caught.
			w := store.NewWriter(slowInserter{st}, store.WriterOptions{FlushInterval: time.Hour, Spool: sp})
			t.Cleanup(func() { w.Close(context.Background()) })
			gw := newGateway(t, durableConfig, "alice@example.com", func(o *Options) { o.Sink, o.DurableLog = w, durable })
			for _, c := range durableCases(t, gw.upstream) {
				for proto, client := range durableClients() {
					t.Run(c.name+"/"+proto, func(t *testing.T) {
						id, status, length, ok := fetch(client, gw.URL+c.path, c.body)
						if !ok || status != http.StatusOK {
							t.Fatalf("answer %d, complete %v", status, ok)
						}
						// The 24 kB JSON answer keeps its Content-Length
						// only without DurableLog.
						if c.name == "json" && (length >= 0) == durable {
							t.Errorf("Content-Length %d with DurableLog %v", length, durable)
						}
						_, err := st.Request(context.Background(), id, store.Lookup{})
						switch {
						case durable && err != nil:
							t.Errorf("complete answer %s has no row: %v", id, err)
						case !durable && !errors.Is(err, store.ErrNotFound):
							t.Errorf("without DurableLog the row of %s is already stored (%v): the test shows nothing", id, err)
						}
					})
				}
			}
		})
	}
}

// slowInserter takes 50ms over each commit.
type slowInserter struct{ store.Inserter }

func (s slowInserter) Insert(ctx context.Context, recs []store.Record) error {
	time.Sleep(50 * time.Millisecond)
	return s.Inserter.Insert(ctx, recs)
}

// failingLog is a request log that can keep no record.
type failingLog struct{ *memSink }

func (failingLog) WriteDurable(context.Context, store.Record) error {
	return fmt.Errorf("%w: injected", store.ErrNotKept)
}

// stuckLog is a request log whose commits never end.
type stuckLog struct{ *memSink }

func (stuckLog) WriteDurable(ctx context.Context, _ store.Record) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestDurableLogAbortsUnkeptAnswer: when the record of an answer cannot be
// kept, or not within DurableLogTimeout, the client sees a broken
// response (a transport error), never a complete answer, whatever bytes of
// it already left.
func TestDurableLogAbortsUnkeptAnswer(t *testing.T) {
	sinks := []struct {
		name string
		sink DurableSink
	}{
		{"log fails", failingLog{&memSink{}}},
		{"log hangs", stuckLog{&memSink{}}},
	}
	for _, s := range sinks {
		t.Run(s.name, func(t *testing.T) {
			gw := newGateway(t, durableConfig, "alice@example.com", func(o *Options) {
				o.Sink, o.DurableLog, o.DurableLogTimeout = s.sink, true, 50*time.Millisecond
				o.Logger = quietLog()
			})
			for _, c := range durableCases(t, gw.upstream) {
				for proto, client := range durableClients() {
					t.Run(c.name+"/"+proto, func(t *testing.T) {
						if _, status, _, ok := fetch(client, gw.URL+c.path, c.body); ok {
							t.Errorf("the client read a complete answer (%d) whose record was not kept", status)
						}
					})
				}
			}
		})
	}
}

// TestDurableLogNeedsDurableSink: DurableLog with a sink that cannot wait
// for its records is refused at start.
func TestDurableLogNeedsDurableSink(t *testing.T) {
	_, err := New(context.Background(), nil, Options{Identity: identity.Local("alice@example.com"), Sink: &memSink{}, DurableLog: true})
	if err == nil || !strings.Contains(err.Error(), "DurableLog") {
		t.Fatalf("New over a sink that cannot wait: %v, want an error naming DurableLog", err)
	}
}

// BenchmarkDurableLog measures what --durable-log adds to an answer: the
// gateway with a real request log (a Writer over SQLite, or PostgreSQL
// when SLUICE_TEST_POSTGRES is set, with its spool) and DurableLog off or
// on, one client at a time (ns/op is the latency of one request) and 16
// at once (ns/op is the inverse of throughput; commits are shared).
func BenchmarkDurableLog(b *testing.B) {
	dbs := map[string]func(b *testing.B) string{
		"sqlite": func(b *testing.B) string { return filepath.Join(b.TempDir(), "sluice.db") },
	}
	if os.Getenv(storetest.EnvTestPostgres) != "" {
		dbs["postgres"] = func(b *testing.B) string { return storetest.PostgresDSN(b) }
	}
	for dbName, dsn := range dbs {
		for _, durable := range []bool{false, true} {
			for _, mode := range benchModes() {
				for _, clients := range []int{1, 16} {
					b.Run(fmt.Sprintf("%s/durable=%v/%s/clients=%d", dbName, durable, mode.name, clients), func(b *testing.B) {
						st, err := store.Open(context.Background(), dsn(b), store.Options{})
						if err != nil {
							b.Fatal(err)
						}
						defer st.Close()
						sp, err := store.OpenSpool(filepath.Join(b.TempDir(), "spool"), store.SpoolOptions{})
						if err != nil {
							b.Fatal(err)
						}
						defer sp.Close()
						w := store.NewWriter(st, store.WriterOptions{Spool: sp})
						defer w.Close(context.Background())
						gw := newGateway(&testing.T{}, pipelineConfig, "alice@example.com", func(o *Options) {
							o.Sink, o.DurableLog, o.Logger = w, durable, quietLog()
						})
						defer gw.Close()
						gw.upstream.Handle("/v1/chat/completions", mode.reply)
						client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
						b.ReportAllocs()
						b.SetParallelism(clients)
						if clients == 1 {
							for b.Loop() {
								benchPost(b, client, gw.URL, mode.body)
							}
							return
						}
						b.RunParallel(func(pb *testing.PB) {
							for pb.Next() {
								benchPost(b, client, gw.URL, mode.body)
							}
						})
					})
				}
			}
		}
	}
}

func benchPost(b *testing.B, client *http.Client, base, body string) {
	resp, err := client.Post(base+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatal(resp.Status)
	}
}
