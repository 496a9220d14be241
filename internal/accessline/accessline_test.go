package accessline

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"
)

// countingWriter records each Write as one line.
type countingWriter struct {
	writes []string
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

// both writes r through this package's handler and slog's, each built
// by build (json or text, opts) and derived by derive, and returns what
// each wrote.
func both(t testing.TB, json bool, opts *slog.HandlerOptions, derive func(slog.Handler) slog.Handler, r slog.Record) (got, want string) {
	t.Helper()
	var g countingWriter
	var w bytes.Buffer
	var mine, std slog.Handler
	if json {
		mine, std = NewJSON(&g, opts), slog.NewJSONHandler(&w, opts)
	} else {
		mine, std = NewText(&g, opts), slog.NewTextHandler(&w, opts)
	}
	if derive != nil {
		mine, std = derive(mine), derive(std)
	}
	ctx := context.Background()
	if mine.Enabled(ctx, r.Level) != std.Enabled(ctx, r.Level) {
		t.Errorf("Enabled(%v) = %v, slog's %v", r.Level, mine.Enabled(ctx, r.Level), std.Enabled(ctx, r.Level))
	}
	if std.Enabled(ctx, r.Level) {
		if err := mine.Handle(ctx, r.Clone()); err != nil {
			t.Fatal(err)
		}
		if err := std.Handle(ctx, r.Clone()); err != nil {
			t.Fatal(err)
		}
		if len(g.writes) != 1 {
			t.Errorf("%d writes for one record, want 1: %q", len(g.writes), g.writes)
		}
		// HandleAttrs writes the same line from the record's parts.
		var attrs []slog.Attr
		r.Attrs(func(a slog.Attr) bool { attrs = append(attrs, a); return true })
		if err := mine.(attrsHandler).HandleAttrs(ctx, r.Time, r.Level, r.Message, attrs); err != nil {
			t.Fatal(err)
		}
		if len(g.writes) != 2 || g.writes[0] != g.writes[1] {
			t.Errorf("HandleAttrs wrote %q, Handle %q", g.writes[1:], g.writes[0])
		}
		g.writes = g.writes[:1]
	}
	return strings.Join(g.writes, ""), w.String()
}

// attrsHandler is what the gateway's access log asks of a handler to
// hand it a line's attributes without a record.
type attrsHandler interface {
	HandleAttrs(ctx context.Context, t time.Time, level slog.Level, msg string, attrs []slog.Attr) error
}

var fixedTime = time.Date(2026, 12, 6, 14, 3, 7, 123456789, time.UTC)

func record(t time.Time, msg string, attrs ...slog.Attr) slog.Record {
	r := slog.NewRecord(t, slog.LevelInfo, msg, 0)
	r.AddAttrs(attrs...)
	return r
}

// accessAttrs are the attributes of an access line.
func accessAttrs(path string, latency float64) []slog.Attr {
	return appendAccessAttrs(nil, path, latency)
}

// appendAccessAttrs appends an access line's attributes to dst.
func appendAccessAttrs(dst []slog.Attr, path string, latency float64) []slog.Attr {
	return append(dst,
		slog.String("request_id", "019af0c2d7e4a1b2c3d4e5f6"),
		slog.String("decision_id", "385f9370-bed3-45c8-852f-0371d7e01fca"),
		slog.String("login", "alice@example.com"),
		slog.String("method", "POST"),
		slog.String("path", path),
		slog.String("format", "openai_chat"),
		slog.String("model", "gpt-5"),
		slog.String("provider", "openai"),
		slog.Int("status", 200),
		slog.Bool("stream", true),
		slog.Int64("input_tokens", 1234),
		slog.Int64("output_tokens", 56),
		slog.Float64("latency_ms", latency),
		slog.Float64("ttfb_ms", 12.345),
		slog.String("error_kind", "upstream_timeout"),
	)
}

type valuer struct{ v string }

func (v valuer) LogValue() slog.Value { return slog.StringValue("resolved " + v.v) }

// tricky are values whose writing differs between kinds, formats and
// quoting rules.
var trickyStrings = []string{"", " ", "plain", "two words", `quo"te`, `back\slash`, "a=b", "=", "tab\there", "nl\nx", "cr\rx",
	"\x00\x01\x1f\x7f", "café", "日本語", "\u00a0nbsp", "\u2028\u2029", "\U0001F600", "\ufffd", "bad \xff utf-8", "\xe2\x82",
	"<html>&amp;", "{\"json\":1}", "/v1/chat/completions?x=1&y=2", "\u200b zero width", "\u0085next line",
	strings.Repeat("long ", 2000), strings.Repeat("é", 3000)}

var trickyFloats = []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 12.345, 1e-6, 9.99e-7, 1e-7, 1e20, 1e21, 123456.789, 1234567.8,
	1e100, -1e-100, math.MaxFloat64, math.SmallestNonzeroFloat64, math.NaN(), math.Inf(1), math.Inf(-1), 5e-324, 0.000123}

var trickyInts = []int64{0, 1, -1, 42, math.MaxInt64, math.MinInt64, -1234567890}

// TestHandlerWritesWhatSlogWrites: for every kind of value, key, time,
// option and derived handler, the handler writes the same bytes as
// slog's text and JSON handlers, in one Write.
func TestHandlerWritesWhatSlogWrites(t *testing.T) {
	type tc struct {
		name   string
		opts   *slog.HandlerOptions
		derive func(slog.Handler) slog.Handler
		r      slog.Record
	}
	access := func(h slog.Handler) slog.Handler { return h.WithAttrs([]slog.Attr{slog.String("log", "access")}) }
	tests := []tc{
		{"access line", nil, access, record(fixedTime, "access", accessAttrs("/v1/chat/completions", 1234.567)...)},
		{"no attributes", nil, nil, record(fixedTime, "started")},
		{"zero time", nil, access, record(time.Time{}, "access", slog.Int("status", 200))},
		{"whole second", nil, nil, record(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "m")},
		{"a nanosecond", nil, nil, record(time.Date(2026, 1, 2, 3, 4, 5, 1, time.UTC), "m")},
		{"999999999ns", nil, nil, record(time.Date(2026, 1, 2, 3, 4, 5, 999999999, time.UTC), "m")},
		{"east zone", nil, nil, record(fixedTime.In(time.FixedZone("CET", 3600)), "m")},
		{"west zone, half hour", nil, nil, record(fixedTime.In(time.FixedZone("NST", -(3*3600+1800))), "m")},
		{"zone with seconds", nil, nil, record(fixedTime.In(time.FixedZone("LMT", -3601)), "m")},
		{"zero offset, not UTC", nil, nil, record(fixedTime.In(time.FixedZone("GMT", 0)), "m")},
		{"local zone", nil, nil, record(fixedTime.Local(), "m")},
		{"year 0", nil, nil, record(time.Date(0, 3, 1, 0, 0, 0, 5e6, time.UTC), "m")},
		{"year 9999", nil, nil, record(time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), "m")},
		{"year 10000", nil, nil, record(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), "m")},
		{"year -1", nil, nil, record(time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), "m")},
		{"durations and uints", nil, nil, record(fixedTime, "m", slog.Duration("d", 1500*time.Millisecond), slog.Duration("neg", -time.Nanosecond),
			slog.Uint64("u", math.MaxUint64), slog.Bool("f", false))},
		{"debug level dropped", nil, nil, func() slog.Record { r := record(fixedTime, "m"); r.Level = slog.LevelDebug; return r }()},
		{"odd levels", &slog.HandlerOptions{Level: slog.LevelDebug - 2}, nil, func() slog.Record {
			r := record(fixedTime, "m")
			r.Level = slog.LevelWarn + 2
			return r
		}()},
		{"level option", &slog.HandlerOptions{Level: slog.LevelWarn}, nil, record(fixedTime, "m")},
		{"group in record", nil, access, record(fixedTime, "m", slog.Int("a", 1), slog.Group("g", slog.String("b", "x y")), slog.Int("c", 3))},
		{"empty group in record", nil, access, record(fixedTime, "m", slog.Group("g"), slog.Int("c", 3))},
		{"WithGroup", nil, func(h slog.Handler) slog.Handler {
			return access(h).WithGroup("g").WithAttrs([]slog.Attr{slog.Int("in", 1)})
		},
			record(fixedTime, "m", slog.Int("a", 1))},
		{"WithGroup empty name", nil, func(h slog.Handler) slog.Handler { return h.WithGroup("") }, record(fixedTime, "m", slog.Int("a", 1))},
		{"WithAttrs twice", nil, func(h slog.Handler) slog.Handler {
			return access(h).WithAttrs([]slog.Attr{slog.Float64("f", 0.5), slog.String("s", "a b")})
		}, record(fixedTime, "m", slog.Int("a", 1))},
		{"WithAttrs group", nil, func(h slog.Handler) slog.Handler {
			return h.WithAttrs([]slog.Attr{slog.Group("g", slog.Int("x", 1))})
		}, record(fixedTime, "m", slog.Int("a", 1))},
		{"WithAttrs none", nil, func(h slog.Handler) slog.Handler { return h.WithAttrs(nil) }, record(fixedTime, "m", slog.Int("a", 1))},
		{"LogValuer", nil, access, record(fixedTime, "m", slog.Any("v", valuer{"x"}))},
		{"any values", nil, access, record(fixedTime, "m", slog.Any("err", errors.New("boom \"x\"")), slog.Any("bytes", []byte("hi there")),
			slog.Any("map", map[string]int{"a": 1}), slog.Time("t", fixedTime))},
		{"empty attr", nil, access, record(fixedTime, "m", slog.Attr{}, slog.Int("a", 1))},
		{"empty key", nil, access, record(fixedTime, "m", slog.Int("", 1))},
		{"ReplaceAttr", &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}}, access, record(fixedTime, "m", slog.Int("a", 1))},
		{"AddSource", &slog.HandlerOptions{AddSource: true}, access, record(fixedTime, "m", slog.Int("a", 1))},
	}
	for i, s := range trickyStrings {
		tests = append(tests,
			tc{"string " + strings.Repeat("I", i%7) + s[:min(len(s), 12)], nil, access, record(fixedTime, s, slog.String("k", s), slog.String(s, "v"))},
			tc{"With string " + s[:min(len(s), 12)], nil, func(h slog.Handler) slog.Handler {
				return h.WithAttrs([]slog.Attr{slog.String(s, s)})
			}, record(fixedTime, "m")},
			tc{"access path " + s[:min(len(s), 12)], nil, access, record(fixedTime, "access", accessAttrs(s, 3)...)})
	}
	for _, f := range trickyFloats {
		tests = append(tests, tc{"float " + slog.Float64("", f).Value.String(), nil, access, record(fixedTime, "m", slog.Float64("f", f), slog.Int("after", 1))})
	}
	for _, n := range trickyInts {
		tests = append(tests, tc{"int " + slog.Int64("", n).Value.String(), nil, access, record(fixedTime, "m", slog.Int64("n", n), slog.Uint64("u", uint64(n)))})
	}
	for _, tt := range tests {
		for _, json := range []bool{false, true} {
			name := tt.name + "/text"
			if json {
				name = tt.name + "/json"
			}
			t.Run(name, func(t *testing.T) {
				got, want := both(t, json, tt.opts, tt.derive, tt.r)
				if got != want {
					t.Errorf("wrote\n%q\nslog writes\n%q", got, want)
				}
			})
		}
	}
}

// TestLinesInOrderAcrossPaths: lines written by the fast path and by
// slog's (a group) through derived handlers come out whole and in the
// order they were logged.
func TestLinesInOrderAcrossPaths(t *testing.T) {
	var w countingWriter
	h := NewText(&w, nil)
	a := h.WithAttrs([]slog.Attr{slog.String("log", "access")})
	g := h.WithGroup("g")
	ctx := context.Background()
	for i := range 4 {
		for _, hh := range []slog.Handler{h, a, g} {
			if err := hh.Handle(ctx, record(fixedTime, "m", slog.Int("i", i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(w.writes) != 12 {
		t.Fatalf("%d writes, want 12", len(w.writes))
	}
	for i, l := range w.writes {
		want := []string{"msg=m i=", "msg=m log=access i=", "msg=m g.i="}[i%3] + string(rune('0'+i/3)) + "\n"
		if !strings.HasSuffix(l, want) {
			t.Errorf("line %d %q, want it to end %q", i, l, want)
		}
	}
}

// TestWriteErrorReturned: a failed write is the handler's error, as
// with slog's.
func TestWriteErrorReturned(t *testing.T) {
	err := NewJSON(failingWriter{}, nil).Handle(context.Background(), record(fixedTime, "m"))
	if err == nil || err.Error() != "disk full" {
		t.Errorf("Handle = %v, want disk full", err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// FuzzHandlerWritesWhatSlogWrites compares the handler's bytes with
// slog's for arbitrary strings, numbers, times and zones, in both
// formats.
func FuzzHandlerWritesWhatSlogWrites(f *testing.F) {
	for i, s := range trickyStrings {
		f.Add(s, "k", trickyInts[i%len(trickyInts)], trickyFloats[i%len(trickyFloats)], i%2 == 0, fixedTime.UnixNano()+int64(i)*999_999, i*1800-7200, i%2 == 1)
	}
	f.Fuzz(func(t *testing.T, s, key string, n int64, fl float64, b bool, unixNano int64, zone int, with bool) {
		tm := time.Unix(0, unixNano).In(time.FixedZone("Z", zone%(26*3600)))
		r := record(tm, s, slog.String(key, s), slog.Int64("n", n), slog.Uint64("u", uint64(n)), slog.Float64("f", fl),
			slog.Bool("b", b), slog.Duration("d", time.Duration(n)), slog.String("after", key))
		var derive func(slog.Handler) slog.Handler
		if with {
			derive = func(h slog.Handler) slog.Handler {
				return h.WithAttrs([]slog.Attr{slog.String(s, key), slog.Float64("wf", fl)})
			}
		}
		for _, json := range []bool{false, true} {
			if got, want := both(t, json, nil, derive, r); got != want {
				t.Errorf("json=%v: wrote\n%q\nslog writes\n%q", json, got, want)
			}
		}
	})
}
