package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/store/storetest"
)

// TestWriterSurvivesPostgresOutage cuts PostgreSQL off (every connection
// closed, new ones refused) for a few seconds in the middle of a load of a
// few thousand records, then finds exactly one row per record. Before the
// spool, a 10 s outage lost 1,289 of 3,001 rows.
func TestWriterSurvivesPostgresOutage(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cut := storetest.NewCutProxy(t, u.Host)
	st := storetest.Open(t, cut.DSN(t, dsn), store.Options{})
	sp, err := store.OpenSpool(filepath.Join(t.TempDir(), "spool"), store.SpoolOptions{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	w := store.NewWriter(st, store.WriterOptions{FlushInterval: 10 * time.Millisecond, Retries: 2, RetryBackoff: 20 * time.Millisecond,
		ReplayMaxBackoff: 500 * time.Millisecond, InsertTimeout: 5 * time.Second, Spool: sp, Logger: discard()})

	const writers, each = 4, 750 // 3,000 records over about 4.5 s
	ids := make([]string, writers*each)
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := fmt.Sprintf("pg-%d-%04d", g, i)
				ids[g*each+i] = id
				w.Write(store.Record{ID: id, Time: time.Now(), Login: "alice@example.com", Model: "gpt-5", Status: 200})
				time.Sleep(6 * time.Millisecond)
			}
		}()
	}
	time.Sleep(time.Second)
	cut.CutFor(3 * time.Second)
	wg.Wait()
	storetest.WaitDrained(t, w, 60*time.Second)
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := w.Stats()
	t.Logf("stats after the outage: %+v", s)
	if s.Spooled == 0 {
		t.Errorf("nothing was spooled: the outage did not hit the load (stats %+v)", s)
	}
	if s.Lost != 0 || s.Dropped != 0 || s.Failed != 0 {
		t.Errorf("stats %+v; want nothing lost, dropped or failed", s)
	}
	storetest.AssertOneRowEach(t, storetest.Open(t, dsn, store.Options{}), ids)
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestWriterSpoolsWhileDatabaseDiskFull puts the SQLite log on a 2 MiB
// filesystem and the spool elsewhere, writes records with large raw bodies
// until the database's disk is full, then grows it: every record is stored
// exactly once, nothing is lost, and the log never stopped taking records.
func TestWriterSpoolsWhileDatabaseDiskFull(t *testing.T) {
	dir := storetest.Tmpfs(t, "2m")
	st := storetest.Open(t, filepath.Join(dir, "sluice.db"), store.Options{})
	sp, err := store.OpenSpool(filepath.Join(t.TempDir(), "spool"), store.SpoolOptions{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	w := store.NewWriter(st, store.WriterOptions{BatchSize: 16, FlushInterval: 5 * time.Millisecond, Retries: 1, RetryBackoff: 10 * time.Millisecond,
		ReplayMaxBackoff: 100 * time.Millisecond, Spool: sp, Logger: discard()})
	body := make([]byte, 32<<10)
	var ids []string
	for i := 0; i < 400 && w.Stats().Spooled < 50; i++ {
		rand.Read(body) // incompressible: fills the disk
		id := fmt.Sprintf("full-%04d", i)
		ids = append(ids, id)
		if !w.Write(store.Record{ID: id, Time: time.Now(), RawRequest: bytes.Clone(body)}) {
			t.Fatalf("record %s refused", id)
		}
		if err := w.Healthy(); err != nil {
			t.Fatalf("Healthy = %v with the spool on another disk", err)
		}
		time.Sleep(time.Millisecond)
	}
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := w.Stats(); s.Spooled == 0 {
		t.Fatalf("the 2 MiB database never filled: %+v", s)
	}
	storetest.GrowTmpfs(t, dir, "64m")
	storetest.WaitDrained(t, w, 30*time.Second)
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := w.Stats(); s.Lost != 0 || s.Failed != 0 || s.Dropped != 0 {
		t.Errorf("stats %+v; want nothing lost", s)
	}
	storetest.AssertOneRowEach(t, st, ids)
}
