package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/store"
)

// AssertOneRowEach fails t unless st holds exactly one row for each of ids
// and no other row: what fault tests check after taking the database away.
func AssertOneRowEach(t testing.TB, st store.Store, ids []string) {
	t.Helper()
	perID := map[string]int{}
	rows := 0
	p := store.Page{Limit: store.MaxLimit}
	for pages := 0; ; pages++ {
		if pages > 100_000 {
			t.Fatal("Requests paging did not end")
		}
		page, err := st.Requests(context.Background(), store.Filter{}, p)
		if err != nil {
			t.Fatalf("Requests: %v", err)
		}
		for _, r := range page.Records {
			perID[r.ID]++
			rows++
		}
		if page.Next == "" {
			break
		}
		p.Cursor = page.Next
	}
	var wrong []string
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
		if perID[id] != 1 {
			wrong = append(wrong, fmt.Sprintf("%s×%d", id, perID[id]))
		}
	}
	for id := range perID {
		if !want[id] {
			wrong = append(wrong, id+" (not sent)")
		}
	}
	if rows != len(ids) || len(wrong) > 0 {
		if len(wrong) > 10 {
			wrong = append(wrong[:10], fmt.Sprintf("… %d more", len(wrong)-10))
		}
		t.Fatalf("%d rows for %d requests; not exactly once: %v", rows, len(ids), wrong)
	}
}

// WaitDrained waits until w has stored everything it was given: nothing
// queued, nothing in the spool, and the log healthy. It fails t when that
// takes longer than within.
func WaitDrained(t testing.TB, w *store.Writer, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		s := w.Stats()
		if s.Pending == 0 && s.SpoolRecords == 0 && s.State == store.LogOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("request log not drained within %v: %+v", within, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
