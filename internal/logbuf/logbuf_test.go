package logbuf

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is an underlying writer that keeps each write apart.
type recorder struct {
	mu     sync.Mutex
	writes []string
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, string(p))
	return len(p), nil
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.writes...)
}

func TestBufferedLinesWaitAndKeepOrder(t *testing.T) {
	tests := []struct {
		name  string
		steps func(w *Writer)
		want  []string
	}{
		{"held until flushed", func(w *Writer) {
			w.Buffered().Write([]byte("a\n"))
			w.Buffered().Write([]byte("b\n"))
		}, nil},
		{"flush writes held lines at once", func(w *Writer) {
			w.Buffered().Write([]byte("a\n"))
			w.Buffered().Write([]byte("b\n"))
			w.Flush()
		}, []string{"a\nb\n"}},
		{"a direct line follows held ones", func(w *Writer) {
			w.Buffered().Write([]byte("access 1\n"))
			w.Write([]byte("warning\n"))
			w.Buffered().Write([]byte("access 2\n"))
		}, []string{"access 1\n", "warning\n"}},
		{"full buffer written without waiting", func(w *Writer) {
			line := strings.Repeat("x", 1000) + "\n"
			for range maxBuffered/len(line) + 1 {
				w.Buffered().Write([]byte(line))
			}
		}, []string{strings.Repeat(strings.Repeat("x", 1000)+"\n", maxBuffered/1001)}},
		{"a line larger than the buffer goes at once, in order", func(w *Writer) {
			w.Buffered().Write([]byte("small\n"))
			w.Buffered().Write([]byte(strings.Repeat("y", maxBuffered) + "\n"))
		}, []string{"small\n", strings.Repeat("y", maxBuffered) + "\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out recorder
			w := New(&out, time.Hour)
			tt.steps(w)
			got := out.got()
			if len(got) != len(tt.want) {
				t.Fatalf("%d writes, want %d: %.80q", len(got), len(tt.want), got)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("write %d = %.80q, want %.80q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// TestHeldLinesWrittenAfterInterval: nobody flushes, yet the lines
// arrive, together, once the interval has passed.
func TestHeldLinesWrittenAfterInterval(t *testing.T) {
	var out recorder
	w := New(&out, 20*time.Millisecond)
	w.Buffered().Write([]byte("a\n"))
	w.Buffered().Write([]byte("b\n"))
	deadline := time.Now().Add(10 * time.Second)
	for len(out.got()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := out.got(); len(got) != 1 || got[0] != "a\nb\n" {
		t.Fatalf("writes %q, want one write of both lines", got)
	}
	// The timer is set again by the next held line.
	w.Buffered().Write([]byte("c\n"))
	for len(out.got()) == 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := out.got(); len(got) != 2 || got[1] != "c\n" {
		t.Fatalf("writes %q, want the later line written too", got)
	}
}

func TestNoIntervalWritesAtOnce(t *testing.T) {
	var out recorder
	w := New(&out, 0)
	w.Buffered().Write([]byte("a\n"))
	if got := out.got(); len(got) != 1 || got[0] != "a\n" {
		t.Fatalf("writes %q, want the line at once", got)
	}
}

// TestConcurrentLinesStayWhole: lines written from many goroutines at
// once, through both ways in, each arrive exactly once and whole.
func TestConcurrentLinesStayWhole(t *testing.T) {
	var out recorder
	w := New(&out, time.Millisecond)
	const writers, lines = 8, 2000
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range lines {
				line := fmt.Sprintf("g%d line %d %s\n", g, i, strings.Repeat("z", i%300))
				if i%50 == 0 {
					w.Write([]byte(line))
				} else {
					w.Buffered().Write([]byte(line))
				}
			}
		})
	}
	wg.Wait()
	w.Flush()
	all := strings.Join(out.got(), "")
	seen := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSuffix(all, "\n"), "\n") {
		var g, i int
		var pad string
		if n, _ := fmt.Sscanf(l, "g%d line %d %s", &g, &i, &pad); n < 2 || len(pad) != i%300 {
			t.Fatalf("mangled line %.80q", l)
		}
		if seen[l] {
			t.Fatalf("line twice: %.80q", l)
		}
		seen[l] = true
	}
	if len(seen) != writers*lines {
		t.Errorf("%d lines arrived, want %d", len(seen), writers*lines)
	}
	// Each goroutine's lines arrive in the order it wrote them.
	last := make([]int, writers)
	for g := range last {
		last[g] = -1
	}
	for _, l := range strings.Split(strings.TrimSuffix(all, "\n"), "\n") {
		var g, i int
		fmt.Sscanf(l, "g%d line %d", &g, &i)
		if i <= last[g] {
			t.Fatalf("goroutine %d: line %d after line %d", g, i, last[g])
		}
		last[g] = i
	}
}

func BenchmarkBufferedLine(b *testing.B) {
	var out bytes.Buffer
	w := New(&out, 100*time.Millisecond)
	line := []byte(`time=2026-12-06T14:00:00.000Z level=INFO msg=access log=access request_id=019af0c2d7e4a1b2c3d4e5f6 login=bench@example.com status=200` + "\n")
	bw := w.Buffered()
	b.ReportAllocs()
	for b.Loop() {
		bw.Write(line)
		if out.Len() > 1<<20 {
			out.Reset()
		}
	}
}
