package storetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	rtrace "runtime/trace"
	"strings"
	"testing"
	"time"

	"golang.org/x/exp/trace"

	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/usage"
)

// holdBudget is the longest a request should wait for the processor
// behind the request log's writer.
const holdBudget = 250 * time.Microsecond

// BenchmarkWriterHold measures how long the request log's writer keeps
// other goroutines from running while it stores a steady 1,000 records a
// second (one per b.N, so -benchtime 10000x is ten seconds), as a gateway
// pinned to one core sees it: run it with -cpu 1. A runtime trace of the
// run gives every stretch during which the processor ran one goroutine
// without passing through the scheduler, when neither a timer nor the
// network poller could wake anyone else. It reports:
//
//   - writer-hold-max-µs: the longest such stretch of the writer;
//   - writer-syscall-max-µs: the longest system call inside one (a system
//     call that blocks, such as an fsync, keeps the processor until the
//     runtime's monitor hands it over, up to 10 ms later when it has
//     backed off);
//   - over-250µs-‰: the part of the run, in thousandths, that a request
//     arriving at a random moment would have waited more than 250 µs,
//     summed over every stretch of any goroutine, which bounds the share
//     of requests whose added latency is above that;
//   - hold-max-µs: the longest stretch of any goroutine.
//
// Wall-clock stretches include time the operating system ran other
// processes: on a shared machine run the benchmark binary under a
// real-time policy (chrt -f 10).
func BenchmarkWriterHold(b *testing.B, dsn string) {
	if runtime.GOMAXPROCS(0) != 1 {
		b.Skip("measures the writer on one processor: run with -cpu 1")
	}
	st := Open(b, dsn, store.Options{})
	w := store.NewWriter(st, store.WriterOptions{})
	logins := make([]string, 50)
	for i := range logins {
		logins[i] = fmt.Sprintf("user%02d@example.com", i)
	}
	models := []string{"claude-sonnet-4-5", "claude-opus-4-1", "gpt-5", "gpt-5-mini", "gemini-2.5-pro", "o3"}

	var tr bytes.Buffer
	if err := rtrace.Start(&tr); err != nil {
		b.Skipf("runtime trace: %v", err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if ahead := time.Duration(i)*time.Millisecond - time.Since(start); ahead > 0 {
			time.Sleep(ahead)
		}
		at := T0.Add(time.Duration(i) * time.Millisecond)
		w.Write(store.Record{
			ID: store.NewID(at), Time: at, Login: logins[i%len(logins)], Model: models[i%len(models)],
			Provider: "anthropic", Format: "anthropic_messages", Method: "POST", Path: "/v1/messages",
			Tailnet: "example.com", NodeID: "nABCDEF", UserAgent: "claude-cli/2.1.0 (external, cli)",
			Status: 200, Latency: 800 * time.Millisecond, TTFB: 300 * time.Millisecond,
			Usage:   usage.Tokens{Input: usage.Of(1200), Output: usage.Of(80)},
			CostUSD: 0.0048, CostKnown: true,
		})
	}
	b.StopTimer()
	rtrace.Stop()
	if err := w.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	if s := w.Stats(); s.Written != int64(b.N) {
		b.Fatalf("stats %+v, want %d written", s, b.N)
	}
	h, err := holds(&tr)
	if err != nil {
		b.Fatalf("reading the trace: %v", err)
	}
	b.ReportMetric(float64(h.writerMax.Microseconds()), "writer-hold-max-µs")
	b.ReportMetric(float64(h.writerSyscallMax.Microseconds()), "writer-syscall-max-µs")
	b.ReportMetric(1000*float64(h.over)/float64(h.span), "over-250µs-‰")
	b.ReportMetric(float64(h.max.Microseconds()), "hold-max-µs")
	b.ReportMetric(0, "ns/op")
}

// holdStats sums up the stretches of a one-processor trace.
type holdStats struct {
	span, max, over             time.Duration
	writerMax, writerSyscallMax time.Duration
}

// holds reads a runtime trace of a program with one processor. A stretch
// ends at each goroutine state change other than entering and leaving a
// system call, and at each change of the processor's state (the runtime
// taking it from a goroutine blocked in a system call): those are the
// moments the scheduler runs. A stretch belongs to the goroutine running
// at its start; the writer's are those of the goroutine whose stack shows
// store.(*Writer).run. The tracer's own goroutine is left out.
func holds(r io.Reader) (holdStats, error) {
	var h holdStats
	tr, err := trace.NewReader(r)
	if err != nil {
		return h, err
	}
	var (
		first, last     trace.Time
		cur             = trace.NoGoroutine
		writer, tracer  = map[trace.GoID]bool{}, map[trace.GoID]bool{}
		sysStart        trace.Time
		sysLongest      time.Duration
		curInSyscallNow bool
	)
	for {
		ev, err := tr.ReadEvent()
		if err == io.EOF {
			break
		}
		if err != nil {
			return h, err
		}
		if first == 0 {
			first = ev.Time()
		}
		if g := ev.Goroutine(); g != trace.NoGoroutine {
			for f := range ev.Stack().Frames() {
				switch {
				case strings.Contains(f.Func, "store.(*Writer).run"):
					writer[g] = true
				case strings.HasPrefix(f.Func, "runtime.traceAdvance"), strings.HasPrefix(f.Func, "runtime/trace."):
					tracer[g] = true
				}
			}
		}
		if ev.Kind() != trace.EventStateTransition {
			continue
		}
		st := ev.StateTransition()
		if st.Resource.Kind == trace.ResourceGoroutine {
			from, to := st.Goroutine()
			switch {
			case from == trace.GoRunning && to == trace.GoSyscall:
				sysStart, curInSyscallNow = ev.Time(), true
				continue
			case from == trace.GoSyscall && to == trace.GoRunning && st.Resource.Goroutine() == cur:
				sysLongest = max(sysLongest, time.Duration(ev.Time()-sysStart))
				curInSyscallNow = false
				continue
			}
		}
		t := ev.Time()
		if cur != trace.NoGoroutine && last != 0 && !tracer[cur] {
			d := time.Duration(t - last)
			if curInSyscallNow {
				sysLongest = max(sysLongest, time.Duration(t-sysStart))
			}
			h.max = max(h.max, d)
			h.over += max(0, d-holdBudget)
			if writer[cur] && d > h.writerMax {
				h.writerMax, h.writerSyscallMax = d, sysLongest
			}
		}
		last, sysLongest, curInSyscallNow = t, 0, false
		if st.Resource.Kind == trace.ResourceGoroutine {
			from, to := st.Goroutine()
			g := st.Resource.Goroutine()
			switch {
			case to == trace.GoRunning:
				cur = g
			case (from == trace.GoRunning || from == trace.GoSyscall) && g == cur:
				cur = trace.NoGoroutine
			}
		}
	}
	h.span = time.Duration(last - first)
	if h.span <= 0 {
		h.span = 1
	}
	return h, nil
}
