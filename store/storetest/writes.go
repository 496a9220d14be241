package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/store"
)

// testWriterN sends N records through a Writer from many goroutines (some
// for requests that failed upstream, some for clients that went away
// mid-stream) and finds exactly N rows.
func testWriterN(t *testing.T, dsn string) {
	st := Open(t, dsn, store.Options{})
	const workers, perWorker = 8, 125
	w := store.NewWriter(st, store.WriterOptions{BatchSize: 64, FlushInterval: 20 * time.Millisecond, QueueSize: 256, BlockTimeout: 10 * time.Second})
	var wg sync.WaitGroup
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				r := rec(fmt.Sprintf("w%d-%d", g, i), fmt.Sprintf("user%d", g%3), "gpt-5", T0.Add(time.Duration(i)*time.Millisecond))
				switch i % 5 {
				case 1:
					r.Status, r.Error = 502, "upstream: 500 Internal Server Error"
				case 2:
					r.Status, r.Error, r.Stream = 499, "client disconnected mid-stream", true
				}
				w.Write(r)
			}
		}()
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatalf("Writer.Close: %v", err)
	}
	const n = workers * perWorker
	stats := w.Stats()
	if stats.Written != n || stats.Dropped != 0 || stats.Failed != 0 {
		t.Errorf("stats = %+v, want %d written and nothing dropped or failed", stats, n)
	}
	got := all(t, st, store.Filter{})
	seen := map[string]bool{}
	for _, r := range got {
		seen[r.ID] = true
	}
	if len(got) != n || len(seen) != n {
		t.Errorf("rows = %d (%d distinct), want exactly %d", len(got), len(seen), n)
	}
	failed := all(t, st, store.Filter{Errors: true})
	if len(failed) != 2*n/5 {
		t.Errorf("failed rows = %d, want %d", len(failed), 2*n/5)
	}
}

func testRetention(t *testing.T, dsn string) {
	st := Open(t, dsn, store.Options{})
	old := rec("old", "alice", "gpt-5", T0)
	old.RawRequest, old.RawResponse = []byte(`{"old":true}`), []byte(`{}`)
	keep := rec("keep", "alice", "gpt-5", T0.Add(48*time.Hour))
	keep.RawRequest = []byte(`{"keep":true}`)
	insert(t, st, old, keep)
	n, err := st.DeleteOlderThan(context.Background(), T0.Add(24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("DeleteOlderThan = %d, %v; want 1 row", n, err)
	}
	if got := ids(all(t, st, store.Filter{})); !reflect.DeepEqual(got, []string{"keep"}) {
		t.Errorf("rows left = %v, want [keep]", got)
	}
	r, err := st.Request(context.Background(), "keep", store.Lookup{Raws: true})
	if err != nil || string(r.RawRequest) != `{"keep":true}` {
		t.Errorf("kept row's body = %q, %v", r.RawRequest, err)
	}
	// Inserting the old row again with new bodies shows the old bodies are
	// gone: a body left behind would win over the new one.
	again := rec("old", "alice", "gpt-5", T0)
	again.RawRequest, again.RawResponse = []byte(`{"new":true}`), []byte(`{"new":true}`)
	insert(t, st, again)
	r, err = st.Request(context.Background(), "old", store.Lookup{Raws: true})
	if err != nil || string(r.RawRequest) != `{"new":true}` || string(r.RawResponse) != `{"new":true}` {
		t.Errorf("re-inserted old row = %q / %q, %v; want its old bodies deleted", r.RawRequest, r.RawResponse, err)
	}
	if n, err := st.DeleteOlderThan(context.Background(), T0); err != nil || n != 0 {
		t.Errorf("second DeleteOlderThan = %d, %v; want 0", n, err)
	}
}

func testRaws(t *testing.T, dsn string) {
	st := Open(t, dsn, store.Options{})
	r := rec("raw", "alice", "gpt-5", T0)
	r.RawRequest = []byte(`{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}`)
	r.RawResponse = append([]byte("data: {\"x\":1}\n\n"), 0, 1, 2, 0xff) // binary is kept as is
	r.Truncated, r.ErrorKind, r.Error = true, "upstream_error", "upstream answered 200 with a body that is not JSON"
	insert(t, st, r, rec("noraw", "alice", "gpt-5", T0))
	ctx := context.Background()
	got, err := st.Request(ctx, "raw", store.Lookup{Raws: true})
	if err != nil {
		t.Fatalf("Request: %v", err)
	}
	if string(got.RawRequest) != string(r.RawRequest) || string(got.RawResponse) != string(r.RawResponse) || !got.HasRaws || got.RawError != "" {
		t.Errorf("raws = %q / %q (has %v, err %q)", got.RawRequest, got.RawResponse, got.HasRaws, got.RawError)
	}
	if !got.Truncated || got.ErrorKind != "upstream_error" {
		t.Errorf("truncated = %v, error kind = %q; want true, upstream_error kept", got.Truncated, got.ErrorKind)
	}
	got, err = st.Request(ctx, "raw", store.Lookup{})
	if err != nil || got.RawRequest != nil || !got.HasRaws {
		t.Errorf("without Raws: body %q, HasRaws %v, %v; want no body but HasRaws", got.RawRequest, got.HasRaws, err)
	}
	got, err = st.Request(ctx, "noraw", store.Lookup{Raws: true})
	if err != nil || got.HasRaws || got.RawRequest != nil {
		t.Errorf("row without raws: %+v, %v", got, err)
	}
}

func key(t *testing.T) []byte {
	t.Helper()
	s, err := store.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := store.ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func keyring(t *testing.T, current []byte, old ...[]byte) *store.Keyring {
	t.Helper()
	k, err := store.NewKeyring(current, old...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testEncryptedRaws(t *testing.T, dsn string) {
	ctx := context.Background()
	k1, k2 := key(t), key(t)
	body := []byte(`{"secret":"prompt"}`)
	read := func(st store.Store, id string) store.Record {
		t.Helper()
		r, err := st.Request(ctx, id, store.Lookup{Raws: true})
		if err != nil {
			t.Fatalf("Request(%s): %v", id, err)
		}
		return r
	}
	// Under key 1.
	st1, err := store.Open(ctx, dsn, store.Options{EncryptBlobs: true, Keys: keyring(t, k1)})
	if err != nil {
		t.Fatal(err)
	}
	r1 := rec("r1", "alice", "gpt-5", T0)
	r1.RawRequest = body
	insert(t, st1, r1)
	if got := read(st1, "r1"); string(got.RawRequest) != string(body) {
		t.Errorf("under key 1: %q (%s)", got.RawRequest, got.RawError)
	}
	st1.Close()

	// Without any key: rows readable, bodies not, and the read says why.
	st0 := Open(t, dsn, store.Options{})
	if got := read(st0, "r1"); got.RawRequest != nil || got.RawError == "" || got.Login != "alice" {
		t.Errorf("without key: body %q, RawError %q; want no body and a reason", got.RawRequest, got.RawError)
	}
	if _, err := store.Open(ctx, dsn, store.Options{EncryptBlobs: true}); !errors.Is(err, store.ErrNoBlobKey) {
		t.Errorf("encryption without a key: err = %v, want ErrNoBlobKey", err)
	}

	// Rotated: key 2 current, key 1 old. Both bodies open.
	st2 := Open(t, dsn, store.Options{EncryptBlobs: true, Keys: keyring(t, k2, k1)})
	r2 := rec("r2", "alice", "gpt-5", T0)
	r2.RawRequest = body
	insert(t, st2, r2)
	for _, id := range []string{"r1", "r2"} {
		if got := read(st2, id); string(got.RawRequest) != string(body) || got.RawError != "" {
			t.Errorf("after rotation %s: %q (%s)", id, got.RawRequest, got.RawError)
		}
	}

	// Key 1 withdrawn: its body is unreadable, key 2's still opens.
	st3 := Open(t, dsn, store.Options{EncryptBlobs: true, Keys: keyring(t, k2)})
	if got := read(st3, "r1"); got.RawRequest != nil || got.RawError == "" {
		t.Errorf("key 1 withdrawn: r1 body %q, RawError %q", got.RawRequest, got.RawError)
	}
	if got := read(st3, "r2"); string(got.RawRequest) != string(body) {
		t.Errorf("key 1 withdrawn: r2 body %q (%s)", got.RawRequest, got.RawError)
	}
}
