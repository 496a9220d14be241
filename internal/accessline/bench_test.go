package accessline

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// BenchmarkAccessLine writes a gateway's access line (15 attributes
// after log=access) through slog's handlers and this package's, ten
// thousand lines a second of record time.
func BenchmarkAccessLine(b *testing.B) {
	for _, bc := range []struct {
		name string
		h    slog.Handler
	}{
		{"slog/text", slog.NewTextHandler(io.Discard, nil)},
		{"slog/json", slog.NewJSONHandler(io.Discard, nil)},
		{"accessline/text", NewText(io.Discard, nil)},
		{"accessline/json", NewJSON(io.Discard, nil)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := bc.h.WithAttrs([]slog.Attr{slog.String("log", "access")})
			r := record(fixedTime, "access", accessAttrs("/v1/chat/completions", 1234.567)...)
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				r.Time = fixedTime.Add(time.Duration(i) * 100 * time.Microsecond)
				if err := h.Handle(ctx, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAccessRecord makes each line as the gateway does: the
// attributes in an array from a pool, then a record (slog.NewRecord,
// AddAttrs) handed to Handle, or (attrs) the attributes handed to
// HandleAttrs.
func BenchmarkAccessRecord(b *testing.B) {
	for _, bc := range []struct {
		name     string
		h        slog.Handler
		viaAttrs bool
	}{
		{"slog-record/text", slog.NewTextHandler(io.Discard, nil), false},
		{"slog-record/json", slog.NewJSONHandler(io.Discard, nil), false},
		{"accessline-record/text", NewText(io.Discard, nil), false},
		{"accessline-record/json", NewJSON(io.Discard, nil), false},
		{"accessline-attrs/text", NewText(io.Discard, nil), true},
		{"accessline-attrs/json", NewJSON(io.Discard, nil), true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := bc.h.WithAttrs([]slog.Attr{slog.String("log", "access")})
			pool := sync.Pool{New: func() any { return new([15]slog.Attr) }}
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				p := pool.Get().(*[15]slog.Attr)
				attrs := appendAccessAttrs(p[:0], "/v1/chat/completions", 1234.567)
				t := fixedTime.Add(time.Duration(i) * 100 * time.Microsecond)
				var err error
				if bc.viaAttrs {
					err = h.(attrsHandler).HandleAttrs(ctx, t, slog.LevelInfo, "access", attrs)
				} else {
					r := slog.NewRecord(t, slog.LevelInfo, "access", 0)
					r.AddAttrs(attrs...)
					err = h.Handle(ctx, r)
				}
				if err != nil {
					b.Fatal(err)
				}
				clear(p[:])
				pool.Put(p)
			}
		})
	}
}
