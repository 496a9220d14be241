package proxy

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/sluice-gateway/sluice/store"
)

// writerStats is implemented by sinks that count what they did
// (store.Writer).
type writerStats interface {
	Stats() store.WriterStats
}

// serveMetrics answers GET /metrics in the Prometheus text format: hook
// deliveries by hook and outcome, the hook queue, and the request log's
// writes. It holds counts only, never a key or a request.
func (s *Server) serveMetrics(w http.ResponseWriter) {
	var b strings.Builder
	b.WriteString("# HELP sluice_hook_deliveries_total Hook calls by hook and outcome.\n")
	b.WriteString("# TYPE sluice_hook_deliveries_total counter\n")
	stats := s.hooks.Stats()
	names := make([]string, 0, len(stats))
	for name := range stats {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		st := stats[name]
		for _, o := range []struct {
			outcome string
			n       uint64
		}{{"delivered", st.Delivered}, {"retried", st.Retried}, {"failed", st.Failed}, {"dropped", st.Dropped}} {
			fmt.Fprintf(&b, "sluice_hook_deliveries_total{hook=%q,outcome=%q} %d\n", name, o.outcome, o.n)
		}
	}
	b.WriteString("# HELP sluice_hook_queue_length Hook deliveries waiting to be sent.\n")
	b.WriteString("# TYPE sluice_hook_queue_length gauge\n")
	fmt.Fprintf(&b, "sluice_hook_queue_length %d\n", s.hooks.Queued())
	if ws, ok := s.opts.Sink.(writerStats); ok {
		st := ws.Stats()
		b.WriteString("# HELP sluice_log_records_total Request log records by outcome.\n")
		b.WriteString("# TYPE sluice_log_records_total counter\n")
		fmt.Fprintf(&b, "sluice_log_records_total{outcome=\"written\"} %d\n", st.Written)
		fmt.Fprintf(&b, "sluice_log_records_total{outcome=\"dropped\"} %d\n", st.Dropped)
		fmt.Fprintf(&b, "sluice_log_records_total{outcome=\"failed\"} %d\n", st.Failed)
		fmt.Fprintf(&b, "sluice_log_records_total{outcome=\"spooled\"} %d\n", st.Spooled)
		fmt.Fprintf(&b, "sluice_log_records_total{outcome=\"replayed\"} %d\n", st.Replayed)
		fmt.Fprintf(&b, "sluice_log_records_total{outcome=\"lost\"} %d\n", st.Lost)
		b.WriteString("# HELP sluice_log_queue_length Request log records waiting to be written.\n")
		b.WriteString("# TYPE sluice_log_queue_length gauge\n")
		fmt.Fprintf(&b, "sluice_log_queue_length %d\n", st.Pending)
		b.WriteString("# HELP sluice_log_spool_records Request log records waiting in the local spool.\n")
		b.WriteString("# TYPE sluice_log_spool_records gauge\n")
		fmt.Fprintf(&b, "sluice_log_spool_records %d\n", st.SpoolRecords)
		b.WriteString("# HELP sluice_log_spool_bytes Size of the request log's local spool files.\n")
		b.WriteString("# TYPE sluice_log_spool_bytes gauge\n")
		fmt.Fprintf(&b, "sluice_log_spool_bytes %d\n", st.SpoolBytes)
		b.WriteString("# HELP sluice_log_state Request log state: ok, spooling (the database lags, nothing lost) or failing (records cannot be kept).\n")
		b.WriteString("# TYPE sluice_log_state gauge\n")
		for _, state := range store.LogStates {
			v := 0
			if state == st.State {
				v = 1
			}
			fmt.Fprintf(&b, "sluice_log_state{state=%q} %d\n", state, v)
		}
	}
	b.WriteString("# HELP sluice_kept_body_bytes Memory running requests hold for kept bodies (--kept-body-budget).\n")
	b.WriteString("# TYPE sluice_kept_body_bytes gauge\n")
	fmt.Fprintf(&b, "sluice_kept_body_bytes %d\n", s.kept.used.Load())
	b.WriteString("# HELP sluice_kept_body_budget_bytes The limit of sluice_kept_body_bytes.\n")
	b.WriteString("# TYPE sluice_kept_body_budget_bytes gauge\n")
	fmt.Fprintf(&b, "sluice_kept_body_budget_bytes %d\n", s.kept.limit)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Write([]byte(b.String()))
}
