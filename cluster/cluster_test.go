package cluster_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/cluster"
	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/store/storetest"
)

// open migrates a fresh schema (the store creates the tables) and connects.
func open(t *testing.T) (*cluster.DB, string) {
	t.Helper()
	dsn := storetest.PostgresDSN(t)
	storetest.Open(t, dsn, store.Options{})
	db, err := cluster.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db, dsn
}

func TestOpenRefusesSQLite(t *testing.T) {
	for _, dsn := range []string{"sluice.db", "sqlite:/tmp/x.db"} {
		if _, err := cluster.Open(context.Background(), dsn); !errors.Is(err, cluster.ErrNeedsPostgres) {
			t.Errorf("Open(%q) = %v, want ErrNeedsPostgres", dsn, err)
		}
	}
}

func TestSaveIsOptimistic(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	if _, err := db.Current(ctx); !errors.Is(err, cluster.ErrNoConfig) {
		t.Fatalf("Current on an empty database = %v, want ErrNoConfig", err)
	}
	seed, err := db.SeedIfEmpty(ctx, []byte(`{"a": 1}`), "seed")
	if err != nil || seed.Number != 1 {
		t.Fatalf("SeedIfEmpty = %+v, %v; want revision 1", seed, err)
	}
	if again, err := db.SeedIfEmpty(ctx, []byte(`{"other": 1}`), "late seed"); err != nil || again.Hash != seed.Hash {
		t.Fatalf("second SeedIfEmpty = %+v, %v; want the first seed kept", again, err)
	}
	tests := []struct {
		name          string
		text, base    string
		wantNumber    int64
		wantUnchanged bool
		wantStale     bool
	}{
		{"on the current hash", `{"a": 2}`, seed.Hash, 2, false, false},
		{"on a stale hash", `{"a": 3}`, seed.Hash, 0, false, true},
		{"same text", `{"a": 2}`, cluster.Hash([]byte(`{"a": 2}`)), 2, true, false},
		{"push without a base", `{"a": 4}`, "", 3, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rev, unchanged, err := db.Save(ctx, []byte(tt.text), tt.base, "alice")
			var stale *cluster.StaleError
			if tt.wantStale {
				if !errors.As(err, &stale) || stale.Revision != 2 {
					t.Fatalf("Save = %+v, %v; want a StaleError at revision 2", rev, err)
				}
				return
			}
			if err != nil || rev.Number != tt.wantNumber || unchanged != tt.wantUnchanged {
				t.Fatalf("Save = %+v, %v, %v; want revision %d unchanged=%v", rev, unchanged, err, tt.wantNumber, tt.wantUnchanged)
			}
		})
	}
	cur, err := db.Current(ctx)
	if err != nil || string(cur.Text) != `{"a": 4}` || cur.Number != 3 || cur.Hash != cluster.Hash(cur.Text) {
		t.Fatalf("Current = %+v, %v", cur, err)
	}
}

// TestConcurrentSavesOnOneBase: of many saves on the same base, exactly
// one wins; the others are told the configuration changed.
func TestConcurrentSavesOnOneBase(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	base, err := db.SeedIfEmpty(ctx, []byte(`{}`), "seed")
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, stale := 0, 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := db.Save(ctx, []byte(`{"n": `+string(rune('0'+i))+`}`), base.Hash, "x")
			var se *cluster.StaleError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.As(err, &se):
				stale++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if won != 1 || stale != n-1 {
		t.Fatalf("%d saves won and %d were stale; want 1 and %d", won, stale, n-1)
	}
}

// TestWatchHearsSavesAtOnce: a save reaches a watcher well within a
// second (by notification, not the periodic check, which is set to a
// minute here).
func TestWatchHearsSavesAtOnce(t *testing.T) {
	db, dsn := open(t)
	other, err := cluster.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan cluster.Revision, 10)
	var serving sync.Mutex
	cur := int64(0)
	go db.Watch(ctx, func() int64 { serving.Lock(); defer serving.Unlock(); return cur },
		func(_ context.Context, r cluster.Revision) {
			serving.Lock()
			cur = r.Number
			serving.Unlock()
			got <- r
		}, cluster.WatchOptions{CheckInterval: time.Minute})
	time.Sleep(200 * time.Millisecond) // the watcher is listening
	for i, text := range []string{`{"v": 1}`, `{"v": 2}`} {
		start := time.Now()
		if _, _, err := other.Save(ctx, []byte(text), "", "bob"); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-got:
			if r.Number != int64(i+1) || string(r.Text) != text {
				t.Fatalf("watcher got %+v, want revision %d", r, i+1)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("revision %d arrived after %v", r.Number, d)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("revision %d never arrived", i+1)
		}
	}
}

// TestWatchChecksPeriodically: without notifications (a save made while
// the watcher was not listening), the periodic check still applies it.
func TestWatchChecksPeriodically(t *testing.T) {
	db, _ := open(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, _, err := db.Save(ctx, []byte(`{"v": 1}`), "", "bob"); err != nil {
		t.Fatal(err)
	}
	got := make(chan int64, 1)
	go db.Watch(ctx, func() int64 { return 0 }, func(_ context.Context, r cluster.Revision) { got <- r.Number },
		cluster.WatchOptions{CheckInterval: 100 * time.Millisecond})
	select {
	case n := <-got:
		if n != 1 {
			t.Fatalf("got revision %d", n)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the stored revision was never applied")
	}
	// A revision the replica could not apply is not handed over again.
	select {
	case n := <-got:
		t.Fatalf("revision %d handed over twice", n)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestHeartbeats(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	start := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
	for _, h := range []cluster.Heartbeat{
		{Replica: "b", ConfigRevision: 2, ConfigHash: "h2", PolicyRevision: "p", Started: start},
		{Replica: "a", ConfigRevision: 1, ConfigHash: "h1", PolicyRevision: "p", FailedRevision: 2, FailedError: "bad", Started: start},
	} {
		if err := db.Beat(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	reps, err := db.Replicas(ctx, cluster.DefaultStaleAfter)
	if err != nil || len(reps) != 2 || reps[0].Replica != "a" || reps[0].FailedRevision != 2 || reps[1].ConfigRevision != 2 ||
		!reps[0].Started.Equal(start) {
		t.Fatalf("Replicas = %+v, %v", reps, err)
	}
	if reps, _ := db.Replicas(ctx, time.Nanosecond); len(reps) != 0 {
		t.Errorf("with a 1ns staleness bound, %d replicas are live", len(reps))
	}
	if err := db.Leave(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if reps, _ := db.Replicas(ctx, cluster.DefaultStaleAfter); len(reps) != 1 || reps[0].Replica != "b" {
		t.Errorf("after a leaves: %+v", reps)
	}
}
