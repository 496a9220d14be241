package proxy

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/sluice-gateway/sluice/store"
)

// accessLog writes one line per request to Options.AccessLog: who asked
// for what, how it ended and how long it took. It names the request and
// the decision so a line leads to the request log's row and the decision
// log's entry. It never holds a key, a prompt or an answer, nor the error
// text (an upstream's message may quote the prompt): the error kind says
// what went wrong.
func (ex *exchange) accessLog(rec *store.Record) {
	log := ex.s.opts.AccessLog
	if log == nil {
		return
	}
	ctx := ex.r.Context()
	h := log.Handler()
	if !h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	// attrs come from a pool: a handler that takes them without a record
	// (attrsHandler) is handed the slice through an interface, which a
	// stack array would escape to the heap for.
	p := accessAttrsPool.Get().(*[15]slog.Attr)
	defer func() {
		clear(p[:]) // hold no request's strings while pooled
		accessAttrsPool.Put(p)
	}()
	attrs := append(p[:0],
		slog.String("request_id", rec.ID),
		slog.String("decision_id", ex.decision.ID),
		slog.String("login", rec.Login),
		slog.String("method", rec.Method),
		slog.String("path", rec.Path),
		slog.String("format", rec.Format),
		slog.String("model", rec.Model),
		slog.String("provider", rec.Provider),
		slog.Int("status", rec.Status),
		slog.Bool("stream", rec.Stream),
		slog.Int64("input_tokens", rec.Usage.Input.Value()),
		slog.Int64("output_tokens", rec.Usage.Output.Value()),
		slog.Float64("latency_ms", float64(rec.Latency.Microseconds())/1000),
	)
	if rec.TTFB > 0 {
		attrs = append(attrs, slog.Float64("ttfb_ms", float64(rec.TTFB.Microseconds())/1000))
	}
	if rec.ErrorKind != "" || rec.Error != "" {
		kind := rec.ErrorKind
		if kind == "" {
			kind = "error"
		}
		attrs = append(attrs, slog.String("error_kind", kind))
	}
	if ah, ok := h.(attrsHandler); ok {
		ah.HandleAttrs(ctx, time.Now(), slog.LevelInfo, "access", attrs)
		return
	}
	// The record is handed to the handler directly, as Logger.LogAttrs
	// would hand it, but without the caller's program counter: the line
	// has no source, and finding it (runtime.Callers) cost more than
	// formatting a field.
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "access", 0)
	r.AddAttrs(attrs...)
	h.Handle(ctx, r)
}

// attrsHandler is a handler that writes a line from its attributes
// without a slog.Record (serve's, accessline.Handler): a record holds
// five attributes and allocates for the others. HandleAttrs must not
// keep attrs.
type attrsHandler interface {
	HandleAttrs(ctx context.Context, t time.Time, level slog.Level, msg string, attrs []slog.Attr) error
}

// accessAttrsPool holds the arrays access lines' attributes are built in.
var accessAttrsPool = sync.Pool{New: func() any { return new([15]slog.Attr) }}
