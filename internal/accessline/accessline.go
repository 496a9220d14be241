// Package accessline is a slog.Handler that writes the lines slog's
// TextHandler or JSONHandler would write, byte for byte, at a fraction
// of their cost for the records a gateway's access log is made of: a
// time, a level, a message and flat attributes holding strings, integers,
// booleans, floats and durations.
//
// slog's handlers are general: each record takes a handler state, a
// pooled buffer, a mutex, a full time format, and for JSON a
// json.Encoder per float. An access line is written for every request,
// so that generality was about 3% of a busy gateway's processor time.
// This handler appends into one buffer it reuses, formats a time's date
// and zone once per second, and writes each line with one Write call.
// Anything else a record may hold (groups, LogValuers, arbitrary values,
// ReplaceAttr or AddSource options, attributes with empty keys, floats
// JSON cannot hold, times outside years 0-9999) goes through slog's own
// handler with the same options and attributes, so the handler stays a
// correct slog.Handler for any record.
//
// It is a package of its own, not part of proxy, because it is how the
// serve command writes its logs, not what the gateway logs: proxy hands
// any *slog.Logger its records, and this package is tested on its own
// against slog's handlers.
package accessline

import (
	"context"
	"io"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxKeptBuffer is the largest line buffer kept for the next line; a
// longer line's buffer is left to the collector.
const maxKeptBuffer = 64 << 10

// output is what a handler and those derived from it (WithAttrs,
// WithGroup) share: the writer, the lock that keeps lines whole and in
// order, the line buffer, and the last second's formatted date and zone.
type output struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte

	// The formatted clock of second sec in location loc: date and time
	// to the second ("2006-01-02T15:04:05") and the zone ("Z", "+01:00").
	clockOK bool
	sec     int64
	loc     *time.Location
	clock   [19]byte
	zone    []byte
}

// Handler writes each record as one line, as slog.NewTextHandler or
// slog.NewJSONHandler with the same options would. It is safe for
// concurrent use.
type Handler struct {
	out   *output
	json  bool
	level slog.Leveler
	// pre holds the attributes given to WithAttrs, formatted, each led
	// by its separator.
	pre []byte
	// general: every record goes through std, because of an option, a
	// group or an attribute given to WithAttrs that this handler does not
	// write itself.
	general bool
	// std is slog's handler with the same options, attributes and groups,
	// writing to the same writer.
	std slog.Handler
}

// NewText returns a handler writing what slog.NewTextHandler(w, opts)
// writes.
func NewText(w io.Writer, opts *slog.HandlerOptions) *Handler {
	return newHandler(w, false, opts)
}

// NewJSON returns a handler writing what slog.NewJSONHandler(w, opts)
// writes.
func NewJSON(w io.Writer, opts *slog.HandlerOptions) *Handler {
	return newHandler(w, true, opts)
}

func newHandler(w io.Writer, json bool, opts *slog.HandlerOptions) *Handler {
	if opts == nil {
		opts = &slog.HandlerOptions{}
	}
	h := &Handler{
		out:     &output{w: w},
		json:    json,
		level:   opts.Level,
		general: opts.AddSource || opts.ReplaceAttr != nil,
	}
	if json {
		h.std = slog.NewJSONHandler(w, opts)
	} else {
		h.std = slog.NewTextHandler(w, opts)
	}
	return h
}

// Enabled reports whether records at level l are written.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool {
	minLevel := slog.LevelInfo
	if h.level != nil {
		minLevel = h.level.Level()
	}
	return l >= minLevel
}

// WithAttrs returns a handler whose lines hold as after the message.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	h2 := *h
	h2.std = h.std.WithAttrs(as)
	if !h2.general {
		pre := slices.Clip(h.pre)
		for _, a := range as {
			var ok bool
			if pre, ok = h.appendAttr(pre, a); !ok {
				h2.general = true
				break
			}
		}
		h2.pre = pre
	}
	return &h2
}

// WithGroup returns a handler whose later attributes are in group name.
// Such a handler writes through slog's own (which opens a group even
// with an empty name; slog.Logger.WithGroup does not call it then).
func (h *Handler) WithGroup(name string) slog.Handler {
	h2 := *h
	h2.std = h.std.WithGroup(name)
	h2.general = true
	return &h2
}

// Handle writes r as one line with one Write call.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	o := h.out
	o.mu.Lock()
	defer o.mu.Unlock()
	if h.general {
		return h.std.Handle(ctx, r)
	}
	b, ok := h.appendLine(o.buf[:0], r)
	if cap(b) <= maxKeptBuffer {
		o.buf = b[:0]
	} else {
		o.buf = nil
	}
	if !ok {
		// std writes to the same writer, under o.mu too, so lines stay
		// in order.
		return h.std.Handle(ctx, r)
	}
	_, err := o.w.Write(b)
	return err
}

// appendLine appends r's line; false if it holds something only slog's
// handler writes.
func (h *Handler) appendLine(b []byte, r slog.Record) ([]byte, bool) {
	ok := true
	if h.json {
		if !r.Time.IsZero() {
			b = append(b, `{"time":`...)
			if b, ok = h.out.appendTime(b, r.Time, true); !ok {
				return b, false
			}
			b = append(b, `,"level":`...)
		} else {
			b = append(b, `{"level":`...)
		}
		b = appendJSONString(b, r.Level.String())
		b = append(b, `,"msg":`...)
		b = appendJSONString(b, r.Message)
	} else {
		if !r.Time.IsZero() {
			b = append(b, "time="...)
			if b, ok = h.out.appendTime(b, r.Time, false); !ok {
				return b, false
			}
			b = append(b, " level="...)
		} else {
			b = append(b, "level="...)
		}
		b = appendTextString(b, r.Level.String())
		b = append(b, " msg="...)
		b = appendTextString(b, r.Message)
	}
	b = append(b, h.pre...)
	r.Attrs(func(a slog.Attr) bool {
		b, ok = h.appendAttr(b, a)
		return ok
	})
	if !ok {
		return b, false
	}
	if h.json {
		b = append(b, '}')
	}
	return append(b, '\n'), true
}

// appendAttr appends a with its separator; false if a is something only
// slog's handler writes.
func (h *Handler) appendAttr(b []byte, a slog.Attr) ([]byte, bool) {
	if a.Key == "" {
		// slog drops an empty attribute and writes a non-empty one
		// under an empty key; it alone tells the two apart.
		return b, false
	}
	v := a.Value
	if h.json {
		b = append(b, ',')
		switch v.Kind() {
		case slog.KindString:
			b = appendJSONString(b, a.Key)
			b = append(b, ':')
			b = appendJSONString(b, v.String())
		case slog.KindInt64:
			b = appendJSONString(b, a.Key)
			b = append(b, ':')
			b = strconv.AppendInt(b, v.Int64(), 10)
		case slog.KindUint64:
			b = appendJSONString(b, a.Key)
			b = append(b, ':')
			b = strconv.AppendUint(b, v.Uint64(), 10)
		case slog.KindBool:
			b = appendJSONString(b, a.Key)
			b = append(b, ':')
			b = strconv.AppendBool(b, v.Bool())
		case slog.KindDuration:
			b = appendJSONString(b, a.Key)
			b = append(b, ':')
			b = strconv.AppendInt(b, int64(v.Duration()), 10)
		case slog.KindFloat64:
			f := v.Float64()
			if math.IsInf(f, 0) || math.IsNaN(f) {
				return b, false
			}
			b = appendJSONString(b, a.Key)
			b = append(b, ':')
			b = appendJSONFloat(b, f)
		default:
			return b, false
		}
		return b, true
	}
	b = append(b, ' ')
	switch v.Kind() {
	case slog.KindString:
		b = appendTextString(b, a.Key)
		b = append(b, '=')
		b = appendTextString(b, v.String())
	case slog.KindInt64:
		b = appendTextString(b, a.Key)
		b = append(b, '=')
		b = strconv.AppendInt(b, v.Int64(), 10)
	case slog.KindUint64:
		b = appendTextString(b, a.Key)
		b = append(b, '=')
		b = strconv.AppendUint(b, v.Uint64(), 10)
	case slog.KindBool:
		b = appendTextString(b, a.Key)
		b = append(b, '=')
		b = strconv.AppendBool(b, v.Bool())
	case slog.KindDuration:
		b = appendTextString(b, a.Key)
		b = append(b, '=')
		b = append(b, v.Duration().String()...)
	case slog.KindFloat64:
		b = appendTextString(b, a.Key)
		b = append(b, '=')
		b = strconv.AppendFloat(b, v.Float64(), 'g', -1, 64)
	default:
		return b, false
	}
	return b, true
}

// appendTime appends t as slog writes a record's time: RFC 3339 to the
// millisecond for text, to the nanosecond with trailing zeros dropped
// (quoted) for JSON. False for a year outside 0-9999, which slog
// reports as an error in JSON. It is called with o.mu held.
func (o *output) appendTime(b []byte, t time.Time, json bool) ([]byte, bool) {
	sec, loc := t.Unix(), t.Location()
	if !o.clockOK || sec != o.sec || loc != o.loc {
		var tmp [40]byte
		f := t.AppendFormat(tmp[:0], time.RFC3339)
		if len(f) < 20 || f[0] == '-' || f[4] != '-' {
			o.clockOK = false
			return b, false
		}
		copy(o.clock[:], f[:19])
		o.zone = append(o.zone[:0], f[19:]...)
		o.clockOK, o.sec, o.loc = true, sec, loc
	}
	ns := t.Nanosecond()
	if json {
		b = append(b, '"')
		b = append(b, o.clock[:]...)
		if ns != 0 {
			var frac [10]byte
			frac[0] = '.'
			for i := 9; i >= 1; i-- {
				frac[i] = byte('0' + ns%10)
				ns /= 10
			}
			n := 10
			for frac[n-1] == '0' {
				n--
			}
			b = append(b, frac[:n]...)
		}
		b = append(b, o.zone...)
		return append(b, '"'), true
	}
	ms := ns / 1e6
	b = append(b, o.clock[:]...)
	b = append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	return append(b, o.zone...), true
}

// textSafe[c] is whether slog's text handler writes byte c unquoted:
// printable ASCII and backslash, but not space, '"' or '='.
var textSafe = func() (t [256]bool) {
	for c := 0x21; c <= 0x7f; c++ {
		t[c] = c != '"' && c != '='
	}
	return t
}()

// appendTextString appends s as slog's text handler does: as it is, or
// Go-quoted when empty or holding a space, '"', '=', a control or
// non-printing character, or invalid UTF-8.
func appendTextString(b []byte, s string) []byte {
	if textNeedsQuoting(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

func textNeedsQuoting(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if textSafe[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			return true
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}

// jsonSafe[c] is whether byte c, ASCII, stands for itself in a JSON
// string: not a control character, '"' or '\\'.
var jsonSafe = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendJSONString appends s quoted as slog's JSON handler does (as
// encoding/json without HTML escaping): '"', '\\' and control characters
// escaped, U+2028 and U+2029 escaped, invalid UTF-8 as U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if jsonSafe[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJSONFloat appends finite f as encoding/json writes a float64:
// the shortest decimal that reads back as f, with an exponent below
// 1e-6 and from 1e21, the exponent without a leading zero.
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-07 is written e-7.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
