package store

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// heapInUse is the live heap after two collections (the second frees
// what the first let sync.Pool keep).
func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// TestWriterGivesMemoryBackAfterLoad: a Writer with the default options
// that has carried a burst faster than it stores holds little of the
// heap once the burst is stored: its queue keeps pointers, not room for
// 16,384 records (9 MB), and the records' strings go with their batch.
// Every record of the burst is stored.
func TestWriterGivesMemoryBackAfterLoad(t *testing.T) {
	st := openSQLite(t, filepath.Join(t.TempDir(), "log.db"))
	base := heapInUse()
	w := NewWriter(st, WriterOptions{BlockTimeout: time.Minute, Logger: quietLogger()})
	const n = 2048
	agent := strings.Repeat("a", 200) // a long User-Agent, as some clients send
	at := time.Unix(1_800_000_000, 0)
	for i := range n {
		r := Record{Time: at.Add(time.Duration(i) * time.Millisecond), Login: fmt.Sprintf("user%d@example.com", i%50),
			Model: "gpt-5", UserAgent: agent + fmt.Sprint(i), Status: 200}
		r.ID = NewID(r.Time)
		if !w.Write(r) {
			t.Fatalf("record %d not queued", i)
		}
	}
	full := heapInUse() - base
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	idle := heapInUse() - base
	t.Logf("heap over the store's: %.1f MB after the burst of %d records, %.1f MB once stored", float64(full)/1e6, n, float64(idle)/1e6)
	if s := w.Stats(); s.Written != n || s.Dropped != 0 {
		t.Fatalf("stats %+v, want %d written", s, n)
	}
	if idle > 2<<20 {
		t.Errorf("an idle Writer after a burst of %d records holds %.1f MB of heap, want under 2 MB", n, float64(idle)/1e6)
	}
	closeWriter(t, w)
}
