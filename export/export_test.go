package export

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/store/storetest"
	"github.com/sluice-gateway/sluice/usage"
)

// fakeS3 is an in-process S3 server; down makes it answer 503 to
// everything, as a store in an outage does.
type fakeS3 struct {
	backend *s3mem.Backend
	srv     *httptest.Server
	down    atomic.Bool
}

const testBucket = "archive"

func newFakeS3(t testing.TB) *fakeS3 {
	t.Helper()
	f := &fakeS3{backend: s3mem.New()}
	if err := f.backend.CreateBucket(testBucket); err != nil {
		t.Fatal(err)
	}
	h := gofakes3.New(f.backend).Server()
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.down.Load() {
			http.Error(w, "<Error><Code>ServiceUnavailable</Code></Error>", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeS3) client(t testing.TB, prefix string) *S3 {
	t.Helper()
	c, err := NewS3(context.Background(), &policy.S3Exporter{
		BucketName: testBucket, Region: "us-east-1", Endpoint: f.srv.URL, Prefix: prefix,
		AccessKeyID: "key", AccessSecret: "secret",
	}, S3Options{MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// keys lists every key in the bucket with the given suffix.
func (f *fakeS3) keys(t *testing.T, suffix string) []string {
	t.Helper()
	list, err := f.backend.ListBucket(testBucket, &gofakes3.Prefix{}, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range list.Contents {
		if strings.HasSuffix(o.Key, suffix) {
			out = append(out, o.Key)
		}
	}
	sort.Strings(out)
	return out
}

type testLog interface {
	store.Store
	store.ExportLog
}

func openStore(t testing.TB) testLog {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "log.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st.(testLog)
}

// backends runs a test on SQLite and, when SLUICE_TEST_POSTGRES is set,
// on PostgreSQL.
func backends(t *testing.T, test func(t *testing.T, open func(t *testing.T) testLog)) {
	t.Run("sqlite", func(t *testing.T) { test(t, func(t *testing.T) testLog { return openStore(t) }) })
	t.Run("postgres", func(t *testing.T) {
		test(t, func(t *testing.T) testLog { return openPostgres(t, storetest.PostgresDSN(t)) })
	})
}

var t0 = time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)

// insert writes n requests starting at from, one second apart; every
// third has raw bodies.
func insert(t testing.TB, st store.Store, from time.Time, n int, tag string) []store.Record {
	t.Helper()
	recs := make([]store.Record, n)
	for i := range recs {
		tm := from.Add(time.Duration(i) * time.Second)
		recs[i] = store.Record{
			ID: store.NewID(tm), Time: tm, Login: fmt.Sprintf("user%d@example.com", i%3), Provider: "openai", Model: "gpt-5",
			Format: "openai_chat", Method: "POST", Path: "/v1/chat/completions", Status: 200, Latency: time.Duration(i) * time.Millisecond,
			Usage: usage.Tokens{Input: usage.Of(int64(10 + i)), Output: usage.Of(5)}, SessionID: tag,
		}
		if i%3 == 0 {
			recs[i].RawRequest = []byte(`{"model":"gpt-5","n":` + fmt.Sprint(i) + `}`)
			recs[i].RawResponse = []byte(`{"choices":[]}`)
		}
	}
	if err := st.Insert(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	return recs
}

// archived decodes every object in the bucket, in key order.
func archived(t *testing.T, f *fakeS3, c *S3) []Record {
	t.Helper()
	var out []Record
	for _, k := range f.keys(t, objectSuffix) {
		data, err := c.Get(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := Decode(data)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		out = append(out, recs...)
	}
	return out
}

// checkExactlyOnce fails unless the archive holds exactly the IDs of
// want, each once, numbered 1..len(want).
func checkExactlyOnce(t *testing.T, got []Record, want []store.Record) {
	t.Helper()
	seen := map[string]int{}
	for i, r := range got {
		seen[r.ID]++
		if r.Seq != int64(i+1) {
			t.Errorf("record %d (%s) has number %d, want %d", i, r.ID, r.Seq, i+1)
		}
	}
	for _, r := range want {
		if seen[r.ID] != 1 {
			t.Errorf("request %s is in the archive %d times, want once", r.ID, seen[r.ID])
		}
	}
	if len(got) != len(want) {
		t.Errorf("archive holds %d records, want %d", len(got), len(want))
	}
}

func TestS3ObjectsDecodeToTheRowsWritten(t *testing.T) {
	ctx := context.Background()
	f := newFakeS3(t)
	st := openStore(t)
	c := f.client(t, "prod")
	written := insert(t, st, t0, 25, "a")
	e := New(st, c, Options{Limit: 10, Now: func() time.Time { return t0.Add(time.Hour) }})
	n, err := e.Export(ctx)
	if err != nil || n != 25 {
		t.Fatalf("Export = %d, %v; want 25", n, err)
	}
	wantKeys := []string{
		"prod/v1/2026/12/01/10/00000000000000000001-00000000000000000010.cbor.zst",
		"prod/v1/2026/12/01/10/00000000000000000011-00000000000000000020.cbor.zst",
		"prod/v1/2026/12/01/10/00000000000000000021-00000000000000000025.cbor.zst",
	}
	if diff := cmp.Diff(wantKeys, f.keys(t, objectSuffix)); diff != "" {
		t.Errorf("object keys (-want +got):\n%s", diff)
	}
	if got := len(f.keys(t, manifestSuffix)); got != 3 {
		t.Errorf("%d manifests, want 3", got)
	}
	got := archived(t, f, c)
	checkExactlyOnce(t, got, written)
	for i, r := range got {
		w := written[i]
		want := Record{
			V: 1, Seq: int64(i + 1), ID: w.ID, TimeUS: w.Time.UnixMicro(), Login: w.Login, Provider: "openai", Model: "gpt-5",
			Format: "openai_chat", Method: "POST", Path: "/v1/chat/completions", Status: 200, LatencyUS: w.Latency.Microseconds(),
			Usage: Usage{Input: w.Usage.Input.Ptr(), Output: w.Usage.Output.Ptr()}, SessionID: "a",
		}
		gotRaws := r.Raws
		r.Raws = nil
		if diff := cmp.Diff(want, r); diff != "" {
			t.Errorf("record %d (-want +got):\n%s", i, diff)
		}
		wantRaws := 0
		if w.RawRequest != nil {
			wantRaws = 2
		}
		if len(gotRaws) != wantRaws {
			t.Errorf("record %d has %d raw bodies, want %d", i, len(gotRaws), wantRaws)
		}
		for _, raw := range gotRaws {
			body, err := zstdDec.DecodeAll(raw.Data, nil)
			want := map[string][]byte{"request": w.RawRequest, "response": w.RawResponse}[raw.Kind]
			if raw.Codec != "zstd" || err != nil || string(body) != string(want) || raw.Size != len(want) {
				t.Errorf("record %d raw %s = codec %q size %d, body %q (%v); want the stored zstd blob of %q", i, raw.Kind, raw.Codec, raw.Size, body, err, want)
			}
		}
	}
	// Nothing new: nothing is written.
	if n, err := e.Export(ctx); err != nil || n != 0 {
		t.Errorf("second Export = %d, %v; want 0", n, err)
	}
	if got := len(f.keys(t, objectSuffix)); got != 3 {
		t.Errorf("%d objects after an idle cycle, want 3", got)
	}
}

func TestCrashBetweenUploadAndCommit(t *testing.T) {
	backends(t, func(t *testing.T, open func(t *testing.T) testLog) {
		ctx := context.Background()
		f := newFakeS3(t)
		st := open(t)
		c := f.client(t, "")
		written := insert(t, st, t0, 12, "a")
		crash := errors.New("killed after upload")
		calls := 0
		e := New(st, c, Options{Limit: 5, afterStore: func(Batch) error {
			calls++
			if calls == 2 {
				return crash
			}
			return nil
		}})
		if _, err := e.Export(ctx); !errors.Is(err, crash) {
			t.Fatalf("Export = %v, want the injected crash", err)
		}
		cur, err := st.ExportCursor(ctx, "s3")
		if err != nil || cur.Done != 5 || cur.Pending != 10 {
			t.Fatalf("cursor after the crash = %+v, %v; want done 5, pending 10", cur, err)
		}
		// Rows arrive while the exporter is down, and it restarts with
		// another batch size: the pending batch is stored again as it was.
		written = append(written, insert(t, st, t0.Add(time.Minute), 4, "b")...)
		e2 := New(st, c, Options{Limit: 7})
		if n, err := e2.Export(ctx); err != nil || n != 11 {
			t.Fatalf("Export after restart = %d, %v; want 11 (5 again, then 6)", n, err)
		}
		checkExactlyOnce(t, archived(t, f, c), written)
		var ranges []string
		for _, k := range f.keys(t, objectSuffix) {
			ranges = append(ranges, strings.TrimSuffix(k[len("v1/2006/01/02/15/"):], objectSuffix))
		}
		want := []string{"00000000000000000001-00000000000000000005", "00000000000000000006-00000000000000000010", "00000000000000000011-00000000000000000016"}
		if diff := cmp.Diff(want, ranges); diff != "" {
			t.Errorf("object ranges (-want +got): the batch pending at the crash must be stored again whole\n%s", diff)
		}
		rep, err := Verify(ctx, c, st, t0.Add(-time.Hour), time.Now().Add(time.Hour))
		if err != nil || !rep.OK() {
			t.Errorf("Verify = %+v, %v; want no problem", rep, err)
		}
	})
}

func TestS3OutageKeepsTheLogAndCatchesUp(t *testing.T) {
	backends(t, func(t *testing.T, open func(t *testing.T) testLog) {
		ctx := context.Background()
		f := newFakeS3(t)
		st := open(t)
		c := f.client(t, "")
		m := NewMetrics()
		e := New(st, c, Options{Limit: 4, Metrics: m})
		written := insert(t, st, t0, 6, "a")
		if _, err := e.Export(ctx); err != nil {
			t.Fatal(err)
		}
		f.down.Store(true)
		written = append(written, insert(t, st, t0.Add(time.Minute), 9, "b")...)
		for range 3 {
			if _, err := e.Export(ctx); err == nil {
				t.Fatal("Export succeeded during the outage")
			}
		}
		page, err := st.Requests(ctx, store.Filter{}, store.Page{Limit: 100})
		if err != nil || len(page.Records) != 15 {
			t.Fatalf("the log holds %d rows during the outage (%v), want 15", len(page.Records), err)
		}
		cur, _ := st.ExportCursor(ctx, "s3")
		if cur.Done != 6 {
			t.Errorf("cursor moved to %d during the outage, want 6", cur.Done)
		}
		f.down.Store(false)
		if n, err := e.Export(ctx); err != nil || n != 9 {
			t.Fatalf("Export after the outage = %d, %v; want 9", n, err)
		}
		checkExactlyOnce(t, archived(t, f, c), written)
		if got := counter(t, m, "sluice_export_failures_total"); got != 3 {
			t.Errorf("sluice_export_failures_total = %v, want 3", got)
		}
		if got := counter(t, m, "sluice_export_records_total"); got != 15 {
			t.Errorf("sluice_export_records_total = %v, want 15", got)
		}
	})
}

func TestVerifyFindsADeletedObjectAsAGap(t *testing.T) {
	ctx := context.Background()
	f := newFakeS3(t)
	st := openStore(t)
	c := f.client(t, "audit")
	insert(t, st, t0, 30, "a")
	if _, err := New(st, c, Options{Limit: 10}).Export(ctx); err != nil {
		t.Fatal(err)
	}
	from, to := t0.Add(-time.Hour), time.Now().Add(time.Hour)
	rep, err := Verify(ctx, c, st, from, to)
	if err != nil || !rep.OK() || rep.Objects != 3 || rep.Records != 30 {
		t.Fatalf("Verify of a whole archive = %+v, %v", rep, err)
	}
	tests := []struct {
		name   string
		delete func(t *testing.T)
		want   []string
	}{
		{name: "object and manifest of the middle batch", delete: func(t *testing.T) {
			for _, k := range []string{f.keys(t, objectSuffix)[1], f.keys(t, manifestSuffix)[1]} {
				if _, err := f.backend.DeleteObject(testBucket, k); err != nil {
					t.Fatal(err)
				}
			}
		}, want: []string{"gap: records 11-20 are in no object", "gap: 10 exported records of the store are in no listed object"}},
		{name: "the last object, manifest left", delete: func(t *testing.T) {
			if _, err := f.backend.DeleteObject(testBucket, f.keys(t, objectSuffix)[1]); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"is missing (records 21-30)", "gap: 20 exported records"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.delete(t)
			rep, err := Verify(ctx, c, st, from, to)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() {
				t.Fatal("Verify found no problem")
			}
			all := strings.Join(rep.Problems, "\n")
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("problems\n%s\nlack %q", all, w)
				}
			}
		})
	}
}

var zstdDec, _ = zstd.NewReader(nil)

// counter sums a metric's series.
func counter(t *testing.T, m *Metrics, name string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collectors()...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.GetMetric() {
			sum += s.GetCounter().GetValue() + s.GetGauge().GetValue()
		}
	}
	return sum
}

// TestLateRowIsExportedAfterTheCursorPassedItsTime records a request whose
// time is older than everything already exported (a long stream, a spool
// replay): it is numbered after the cursor and lands in the next object.
func TestLateRowIsExportedAfterTheCursorPassedItsTime(t *testing.T) {
	ctx := context.Background()
	f := newFakeS3(t)
	st := openStore(t)
	c := f.client(t, "")
	e := New(st, c, Options{Limit: 100})
	written := insert(t, st, t0, 5, "a")
	if _, err := e.Export(ctx); err != nil {
		t.Fatal(err)
	}
	late := insert(t, st, t0.Add(-time.Hour), 1, "late")
	if n, err := e.Export(ctx); err != nil || n != 1 {
		t.Fatalf("Export = %d, %v; want the late row", n, err)
	}
	got := archived(t, f, c)
	checkExactlyOnce(t, got, append(written, late...))
	if got[5].ID != late[0].ID || got[5].Seq != 6 {
		t.Errorf("last record = %s #%d, want the late row %s as #6", got[5].ID, got[5].Seq, late[0].ID)
	}
}

// TestCloseExportsWhatIsPending is the gateway's shutdown: the exporter's
// next cycle is far off, and Close still stores the rows written since
// the last one.
func TestCloseExportsWhatIsPending(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := newFakeS3(t)
	st := openStore(t)
	c := f.client(t, "")
	e := New(st, c, Options{Every: time.Hour})
	e.Start(ctx)
	written := insert(t, st, t0, 3, "a")
	cancel() // the serving context ends first, as on SIGTERM
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, archived(t, f, c), written)
}

// TestSealedBodiesStaySealed exports a store that encrypts raw bodies:
// the archive holds the sealed bytes and the key's ID, never the body.
func TestSealedBodiesStaySealed(t *testing.T) {
	ctx := context.Background()
	key := bytes.Repeat([]byte{7}, 32)
	keys, err := store.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "log.db"), store.Options{EncryptBlobs: true, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := newFakeS3(t)
	c := f.client(t, "")
	secret := []byte(`{"messages":[{"role":"user","content":"the launch code is 0000"}]}`)
	rec := store.Record{ID: store.NewID(t0), Time: t0, Login: "a@example.com", Provider: "p", Model: "m", Status: 200, RawRequest: secret}
	if err := st.Insert(ctx, []store.Record{rec}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(st.(store.ExportLog), c, Options{}).Export(ctx); err != nil {
		t.Fatal(err)
	}
	got := archived(t, f, c)
	if len(got) != 1 || len(got[0].Raws) != 1 {
		t.Fatalf("archive = %+v, want one record with one body", got)
	}
	raw := got[0].Raws[0]
	if raw.KeyID != keys.CurrentID() || raw.Size != len(secret) {
		t.Errorf("raw = key %q size %d, want key %q size %d", raw.KeyID, raw.Size, keys.CurrentID(), len(secret))
	}
	if plain, err := zstdDec.DecodeAll(raw.Data, nil); err == nil && bytes.Contains(plain, []byte("launch code")) {
		t.Error("the exported body opens without the key")
	}
	if bytes.Contains(raw.Data, []byte("launch code")) {
		t.Error("the exported body is in clear")
	}
}
