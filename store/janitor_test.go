package store

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/policy"
)

// retentionStore records DeleteOlderThan calls; other methods are unused.
type retentionStore struct {
	Store
	mu      sync.Mutex
	cutoffs []time.Time
}

func (s *retentionStore) DeleteOlderThan(_ context.Context, t time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cutoffs = append(s.cutoffs, t)
	return 1, nil
}

func (s *retentionStore) calls() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.cutoffs...)
}

func TestRunRetention(t *testing.T) {
	tests := []struct {
		name      string
		retention time.Duration
		wantCalls bool
	}{
		{"keeps forever", 0, false},
		{"deletes older than retention", 24 * time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &retentionStore{}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				RunRetention(ctx, st, 5*time.Millisecond, func() policy.Database { return policy.Database{Retention: tt.retention} }, time.Now, quietLogger())
			}()
			if tt.wantCalls {
				// Wait for repeated passes.
				for deadline := time.Now().Add(5 * time.Second); len(st.calls()) < 2 && time.Now().Before(deadline); {
					time.Sleep(5 * time.Millisecond)
				}
			} else {
				// Ten intervals in which no pass may delete anything.
				time.Sleep(50 * time.Millisecond)
			}
			cancel()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("RunRetention did not return after cancel")
			}
			calls := st.calls()
			if (len(calls) >= 2) != tt.wantCalls || (!tt.wantCalls && len(calls) != 0) {
				t.Fatalf("%d DeleteOlderThan calls, want repeated calls: %v", len(calls), tt.wantCalls)
			}
			for _, c := range calls {
				if age := time.Since(c); age < tt.retention || age > tt.retention+time.Minute {
					t.Errorf("cutoff %v is %v ago, want about %v", c, age, tt.retention)
				}
			}
		})
	}
}
