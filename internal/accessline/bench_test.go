package accessline

import (
	"context"
	"io"
	"log/slog"
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

// BenchmarkAccessRecord makes each line's record as the gateway does
// (slog.NewRecord, AddAttrs of 15 attributes) and writes it: the cost of
// an access line outside the handler is the record's.
func BenchmarkAccessRecord(b *testing.B) {
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
			attrs := accessAttrs("/v1/chat/completions", 1234.567)
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				r := slog.NewRecord(fixedTime.Add(time.Duration(i)*100*time.Microsecond), slog.LevelInfo, "access", 0)
				r.AddAttrs(attrs...)
				if err := h.Handle(ctx, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
