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
// This handler appends into one buffer it reuses (formatting under the
// lock the write needs anyway), reads strings a word at a time, keeps
// the last line's keys as written, formats a time's date and zone once
// per second, and writes each line with one Write call. HandleAttrs
// takes a line's attributes without a slog.Record, which allocates for
// attributes past the fifth.
// Anything else a record may hold (groups, LogValuers, arbitrary values,
// ReplaceAttr or AddSource options, attributes with empty keys, floats
// JSON cannot hold, times outside years 0-9999) goes through slog's own
// handler with the same options and attributes, so the handler stays a
// correct slog.Handler for any record.
//
// It is a package of its own, not part of proxy, because it is how the
// serve command writes its logs, not what the gateway logs: proxy hands
// any *slog.Logger its records (and a handler with HandleAttrs its
// attributes), and this package is tested on its own against slog's
// handlers.
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

	"github.com/sluice-gateway/sluice/internal/jsonbytes"
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

	keys keyCache
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
			if pre, ok = h.appendAttr(pre, a, nil, 0); !ok {
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
	b, ok := h.appendHead(o.buf[:0], r.Time, r.Level, r.Message)
	i := 0
	r.Attrs(func(a slog.Attr) bool {
		b, ok = h.appendAttr(b, a, &o.keys, i)
		i++
		return ok
	})
	if !ok {
		o.keep(b)
		// std writes to the same writer, under o.mu too, so lines stay
		// in order.
		return h.std.Handle(ctx, r)
	}
	return o.write(h.appendTail(b))
}

// HandleAttrs writes the line Handle writes for a record of t, level,
// msg and attrs, without making the record: a record holds five
// attributes and allocates for the others, and hands them to the handler
// one call at a time. It does not keep attrs.
func (h *Handler) HandleAttrs(ctx context.Context, t time.Time, level slog.Level, msg string, attrs []slog.Attr) error {
	o := h.out
	o.mu.Lock()
	if !h.general {
		b, ok := h.appendHead(o.buf[:0], t, level, msg)
		for i := 0; ok && i < len(attrs); i++ {
			b, ok = h.appendAttr(b, attrs[i], &o.keys, i)
		}
		if ok {
			err := o.write(h.appendTail(b))
			o.mu.Unlock()
			return err
		}
		o.keep(b)
	}
	o.mu.Unlock()
	r := slog.NewRecord(t, level, msg, 0)
	r.AddAttrs(attrs...)
	return h.Handle(ctx, r)
}

// keep keeps b's array for the next line unless it grew too large.
func (o *output) keep(b []byte) {
	if cap(b) <= maxKeptBuffer {
		o.buf = b[:0]
	} else {
		o.buf = nil
	}
}

// write writes line b and keeps its array.
func (o *output) write(b []byte) error {
	_, err := o.w.Write(b)
	o.keep(b)
	return err
}

// appendHead appends a line's time, level, message and the attributes
// given to WithAttrs; false for a time only slog's handler writes.
func (h *Handler) appendHead(b []byte, t time.Time, level slog.Level, msg string) ([]byte, bool) {
	ok := true
	if h.json {
		if !t.IsZero() {
			b = append(b, `{"time":`...)
			if b, ok = h.out.appendTime(b, t, true); !ok {
				return b, false
			}
			b = append(b, `,"level":`...)
		} else {
			b = append(b, `{"level":`...)
		}
		b = appendJSONString(b, level.String())
		b = append(b, `,"msg":`...)
		b = appendJSONString(b, msg)
	} else {
		if !t.IsZero() {
			b = append(b, "time="...)
			if b, ok = h.out.appendTime(b, t, false); !ok {
				return b, false
			}
			b = append(b, " level="...)
		} else {
			b = append(b, "level="...)
		}
		b = appendTextString(b, level.String())
		b = append(b, " msg="...)
		b = appendTextString(b, msg)
	}
	return append(b, h.pre...), true
}

// appendTail ends a line.
func (h *Handler) appendTail(b []byte) []byte {
	if h.json {
		b = append(b, '}')
	}
	return append(b, '\n')
}

// appendAttr appends a with its separator; false if a is something only
// slog's handler writes. keys, when not nil, holds the formatted keys of
// the last line's attributes and a is the line's attribute number i.
func (h *Handler) appendAttr(b []byte, a slog.Attr, keys *keyCache, i int) ([]byte, bool) {
	if a.Key == "" {
		// slog drops an empty attribute and writes a non-empty one
		// under an empty key; it alone tells the two apart.
		return b, false
	}
	v := a.Value
	switch v.Kind() {
	case slog.KindString:
		b = h.appendKey(b, a.Key, keys, i)
		if h.json {
			return appendJSONString(b, v.String()), true
		}
		return appendTextString(b, v.String()), true
	case slog.KindInt64:
		b = h.appendKey(b, a.Key, keys, i)
		return strconv.AppendInt(b, v.Int64(), 10), true
	case slog.KindUint64:
		b = h.appendKey(b, a.Key, keys, i)
		return strconv.AppendUint(b, v.Uint64(), 10), true
	case slog.KindBool:
		b = h.appendKey(b, a.Key, keys, i)
		return strconv.AppendBool(b, v.Bool()), true
	case slog.KindDuration:
		b = h.appendKey(b, a.Key, keys, i)
		if h.json {
			return strconv.AppendInt(b, int64(v.Duration()), 10), true
		}
		return append(b, v.Duration().String()...), true
	case slog.KindFloat64:
		f := v.Float64()
		if h.json {
			if math.IsInf(f, 0) || math.IsNaN(f) {
				// slog writes the error encoding/json returns.
				return b, false
			}
			b = h.appendKey(b, a.Key, keys, i)
			return appendJSONFloat(b, f), true
		}
		b = h.appendKey(b, a.Key, keys, i)
		return appendTextFloat(b, f), true
	}
	return b, false
}

// keyCache holds the keys of the last line's attributes as written, by
// their place in the line: an access line's keys are the same, in the
// same order, on every line.
type keyCache [32]struct {
	key string
	// as written: separator, key, '=' or ':'
	written string
}

// maxCachedKey is the longest key kept in a keyCache.
const maxCachedKey = 64

// appendKey appends the separator before an attribute and its key.
func (h *Handler) appendKey(b []byte, key string, keys *keyCache, i int) []byte {
	if keys != nil && i < len(keys) {
		if e := &keys[i]; e.key == key {
			return append(b, e.written...)
		}
	}
	start := len(b)
	if h.json {
		b = append(b, ',')
		b = appendJSONString(b, key)
		b = append(b, ':')
	} else {
		b = append(b, ' ')
		b = appendTextString(b, key)
		b = append(b, '=')
	}
	if keys != nil && i < len(keys) && len(key) <= maxCachedKey {
		e := &keys[i]
		e.key = key
		e.written = string(b[start:])
	}
	return b
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
	if textPlain(s) {
		return append(b, s...)
	}
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
	if jsonPlain(s) {
		b = append(b, s...)
		return append(b, '"')
	}
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

// Strings are checked eight bytes at a time while they hold only bytes
// that stand for themselves: a word of them is x below, each byte a lane.
const (
	lanes1    = 0x0101010101010101
	lanesHigh = 0x8080808080808080
)

// load8 is the eight bytes of s from i, the first the lowest.
func load8(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// load4 is the four bytes of s from i, the first the lowest.
func load4(s string, i int) uint64 {
	s = s[i : i+4]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24
}

// textPlain reports whether s is not empty and every byte of it is
// textSafe; false sends s to the exact byte by byte path.
func textPlain(s string) bool {
	// bad reports, in its lanes' high bits, the lanes of x with the high
	// bit set, below 0x21, or equal to '"' or '=' (exact as to whether
	// there is any: a borrow only runs on from a lane already found).
	bad := func(x uint64) uint64 {
		y, z := x^(lanes1*'"'), x^(lanes1*'=')
		return (x | (x-lanes1*0x21)&^x | (y-lanes1)&^y | (z-lanes1)&^z) & lanesHigh
	}
	n := len(s)
	if n < 8 {
		return n > 0 && bad(loadShort(s)) == 0
	}
	var found uint64
	for i := 0; i < n-8; i += 8 {
		found |= bad(load8(s, i))
	}
	return found|bad(load8(s, n-8)) == 0
}

// jsonPlain reports whether every byte of s is jsonSafe; false sends s
// to the exact byte by byte path.
func jsonPlain(s string) bool {
	// bad is textPlain's for the high bit, below 0x20, '"' and '\\'.
	bad := func(x uint64) uint64 {
		y, z := x^(lanes1*'"'), x^(lanes1*'\\')
		return (x | (x-lanes1*0x20)&^x | (y-lanes1)&^y | (z-lanes1)&^z) & lanesHigh
	}
	n := len(s)
	if n < 8 {
		return bad(loadShort(s)) == 0
	}
	var found uint64
	for i := 0; i < n-8; i += 8 {
		found |= bad(load8(s, i))
	}
	return found|bad(load8(s, n-8)) == 0
}

// loadShort is the bytes of s, shorter than eight, as a word, the lanes
// past its end 'a' (a string of eight or more is read word by word, the
// last word overlapping the one before it).
func loadShort(s string) uint64 {
	switch n := len(s); {
	case n >= 4:
		return load4(s, 0) | load4(s, n-4)<<32
	case n >= 2:
		return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[n-2])<<16 | uint64(s[n-1])<<24 | lanes1*'a'&^0xffffffff
	case n == 1:
		return uint64(s[0]) | lanes1*'a'&^0xff
	}
	return lanes1 * 'a'
}

// appendTextFloat appends f as slog's text handler does: strconv's
// shortest 'g' format.
func appendTextFloat(b []byte, f float64) []byte {
	// %g writes the plain decimal from 1e-4 to below 1e6.
	if b, ok := appendMilli(b, f, 1e9); ok {
		return b
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// appendJSONFloat appends finite f as encoding/json writes a float64:
// the shortest decimal that reads back as f, with an exponent below
// 1e-6 and from 1e21, the exponent without a leading zero.
func appendJSONFloat(b []byte, f float64) []byte {
	// encoding/json writes the plain decimal from 1e-6 to below 1e21.
	if b, ok := appendMilli(b, f, 1e15); ok {
		return b
	}
	return jsonbytes.AppendFloat(b, f)
}

// appendMilli appends non-zero f as the shortest decimal that reads back
// as f when that decimal is m/1000 for an integer m, 0 < |m| < limit ≤
// 1e15, as durations in milliseconds are; false otherwise. Such a
// decimal has at most 15 significant digits, and two decimals of at most
// 15 digits never read back as the same float64, so no shorter one
// reads back as f: it is what strconv's shortest formatting finds.
func appendMilli(b []byte, f float64, limit float64) ([]byte, bool) {
	m := math.Round(f * 1000)
	if !(m > -limit && m < limit) || m == 0 || m/1000 != f {
		return b, false
	}
	u := uint64(m)
	if m < 0 {
		b = append(b, '-')
		u = uint64(-m)
	}
	b = strconv.AppendUint(b, u/1000, 10)
	frac := u % 1000
	switch {
	case frac == 0:
	case frac%100 == 0:
		b = append(b, '.', byte('0'+frac/100))
	case frac%10 == 0:
		b = append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10))
	default:
		b = append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
	}
	return b, true
}
