package proxy

import (
	"context"
	"log/slog"

	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/usage"
)

// Sink receives one record per request that reached the gateway. It must
// not block for long: store.Writer batches in the background. Write
// reports false when the record could not be kept (the sink counts and
// logs such drops itself).
//
// Healthy reports whether the sink can keep records now: nil, or why not.
// The gateway asks it at the start of every request, so it must be cheap
// (an atomic load); with database.on_log_failure "refuse" a non-nil answer
// refuses the request with 503, its message shown to the client.
type Sink interface {
	Write(store.Record) bool
	Healthy() error
}

var _ Sink = (*store.Writer)(nil)

// LogSink writes each record as one structured log line; it is the sink
// when no database is configured.
type LogSink struct{ Logger *slog.Logger }

// Healthy is always nil: a log line needs no database.
func (LogSink) Healthy() error { return nil }

// Write logs rec without its raw bodies.
func (s LogSink) Write(rec store.Record) bool {
	attrs := []slog.Attr{
		slog.String("request_id", rec.ID),
		slog.String("login", rec.Login),
		slog.String("provider", rec.Provider),
		slog.String("model", rec.Model),
		slog.String("format", rec.Format),
		slog.String("path", rec.Path),
		slog.Int("status", rec.Status),
		slog.Duration("latency", rec.Latency),
		slog.Duration("ttfb", rec.TTFB),
	}
	// Counts the provider did not report are left out rather than logged
	// as 0.
	for _, c := range []struct {
		key string
		n   usage.Count
	}{{"input_tokens", rec.Usage.Input}, {"output_tokens", rec.Usage.Output},
		{"cache_read_tokens", rec.Usage.CacheRead}, {"cache_write_tokens", rec.Usage.CacheWrite}} {
		if n, ok := c.n.Get(); ok {
			attrs = append(attrs, slog.Int64(c.key, n))
		}
	}
	if rec.CostKnown {
		attrs = append(attrs, slog.Float64("cost_usd", rec.CostUSD))
	}
	attrs = append(attrs, slog.String("error", rec.Error))
	s.Logger.LogAttrs(context.Background(), slog.LevelInfo, "request", attrs...)
	return true
}
