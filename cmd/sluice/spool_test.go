package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/store"
)

// TestServeReplaysSpoolLeftByEarlierRun: records an earlier run left in
// the spool (its database was down when it stopped) are stored when the
// gateway starts again, and the start says so.
func TestServeReplaysSpoolLeftByEarlierRun(t *testing.T) {
	state := t.TempDir()
	sp, err := store.OpenSpool(filepath.Join(state, "spool"), store.SpoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	left := []store.Record{
		{ID: "left-1", Time: time.Now().Add(-time.Minute), Login: "dev@example.com", Status: 200},
		{ID: "left-2", Time: time.Now().Add(-time.Minute), Login: "dev@example.com", Status: 200},
		{ID: "left-3", Time: time.Now().Add(-time.Minute), Login: "dev@example.com", Status: 502},
	}
	if err := sp.Append(left); err != nil {
		t.Fatal(err)
	}
	sp.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--state-dir", state, "--local-user", "dev@example.com"}, &stdout, &stderr)
	}()
	st, err := waitForRows(t, filepath.Join(state, "sluice.db"), &stdout, len(left))
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d: %s", code, stderr.String())
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	defer st.Close()
	startLog := regexp.MustCompile(`msg="request log spool" path=\S+spool records=3 bytes=\d+ max_bytes=1073741824 replaying=true`)
	if !startLog.MatchString(stderr.String()) {
		t.Errorf("start log does not say what the spool holds:\n%s", stderr.String())
	}
	for _, r := range left {
		if _, err := st.Request(context.Background(), r.ID, store.Lookup{}); err != nil {
			t.Errorf("spooled record %s not stored: %v", r.ID, err)
		}
	}
	if files, _ := filepath.Glob(filepath.Join(state, "spool", "*.spool")); len(files) != 0 {
		t.Errorf("spool segments left after replay: %v", files)
	}
}

// waitForRows waits until serve has started and the database holds n rows.
func waitForRows(t *testing.T, dsn string, stdout *syncBuffer, n int) (store.Store, error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(stdout.String(), "serving on") {
		if time.Now().After(deadline) {
			return nil, context.DeadlineExceeded
		}
		time.Sleep(20 * time.Millisecond)
	}
	st, err := store.Open(context.Background(), dsn, store.Options{})
	if err != nil {
		return nil, err
	}
	for {
		page, err := st.Requests(context.Background(), store.Filter{}, store.Page{Limit: 100})
		if err == nil && len(page.Records) == n {
			return st, nil
		}
		if time.Now().After(deadline) {
			st.Close()
			return nil, context.DeadlineExceeded
		}
		time.Sleep(20 * time.Millisecond)
	}
}
