package compat

import (
	"bytes"
	"fmt"
	"io"
	"sync"

	"github.com/sluice-gateway/sluice/compat/sse"
	"github.com/sluice-gateway/sluice/internal/jsonbytes"
)

// OpenAI chat streams report usage only when the request asks for it with
// stream_options.include_usage. To count the tokens of every streamed chat
// request, the proxy rewrites the request with EnsureStreamUsage and, when
// that added the option, puts a UsageFilter in front of the client, so the
// client receives exactly the stream it would have received without the
// option while the recorder, fed the unfiltered bytes, sees the usage.

// EnsureStreamUsage returns the request body with
// stream_options.include_usage set to true when the body is an OpenAI chat
// request with "stream": true that does not already ask for usage; added
// reports whether it changed the body. Other members keep their bytes and
// order. Other formats and non-stream requests are returned unchanged.
func EnsureStreamUsage(format string, body []byte) (out []byte, added bool, err error) {
	if format != OpenAIChat {
		return body, false, nil
	}
	// The last of duplicate members wins, as in a decode. The walk keeps
	// no list of members (three allocations for a small request).
	var streamM, optsM jsonbytes.Member
	var stream, opts *jsonbytes.Member
	open, err := jsonbytes.Members(body, func(m jsonbytes.Member) bool {
		switch k := m.Key; {
		case k.Is("stream"):
			streamM, stream = m, &streamM
		case k.Is("stream_options"):
			optsM, opts = m, &optsM
		}
		return true
	})
	if err != nil {
		return body, false, fmt.Errorf("%w: %w", ErrInvalidBody, err)
	}
	if stream == nil || string(body[stream.ValStart:stream.ValEnd]) != "true" {
		return body, false, nil
	}
	const option = `{"include_usage":true}`
	if opts == nil {
		return jsonbytes.Splice(body, open+1, open+1, `"stream_options":`+option+","), true, nil
	}
	val := body[opts.ValStart:opts.ValEnd]
	if string(val) == "null" {
		return jsonbytes.Splice(body, opts.ValStart, opts.ValEnd, option), true, nil
	}
	inner, innerOpen, err := jsonbytes.List(val)
	if err != nil {
		return body, false, fmt.Errorf("%w: stream_options must be an object", ErrInvalidBody)
	}
	for _, m := range inner {
		if !m.Key.Is("include_usage") {
			continue
		}
		if string(val[m.ValStart:m.ValEnd]) == "true" {
			return body, false, nil
		}
		return jsonbytes.Splice(body, opts.ValStart+m.ValStart, opts.ValStart+m.ValEnd, "true"), true, nil
	}
	ins := `"include_usage":true`
	if len(inner) > 0 {
		ins += ","
	}
	at := opts.ValStart + innerOpen + 1
	return jsonbytes.Splice(body, at, at, ins), true, nil
}

// UsageFilter removes from an OpenAI chat stream what
// stream_options.include_usage added: the final chunk that carries usage
// with an empty choices array, and "usage":null members of the other
// chunks. Everything else passes byte for byte, one upstream write to one
// downstream write. A body that is not an event stream (an error answered
// as JSON) passes unchanged. Chunks that carry usage next to choices (some
// providers send usage in the last content chunk whatever the request
// says) pass unchanged too.
//
// The filter holds back at most one incomplete event; Close writes it,
// so call it when done. Its output buffer is taken from a pool for the
// length of one Write, so an open stream idling between events holds only
// its parser's state. A UsageFilter is not safe for concurrent use.
type UsageFilter struct {
	w      io.Writer
	p      sse.Parser
	mode   mode
	out    []byte // output of the current Write or Close
	err    error
	closed bool
}

var _ io.WriteCloser = (*UsageFilter)(nil)

// NewUsageFilter returns a filter writing to w.
func NewUsageFilter(w io.Writer) *UsageFilter {
	f := &UsageFilter{w: w}
	f.p.KeepRaw = true
	f.p.MaxEventSize = 1 << 20 // larger events pass through unfiltered
	return f
}

// Write filters b and writes the complete events it ends to the
// underlying writer. It fails only when the underlying writer does.
func (f *UsageFilter) Write(b []byte) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	if f.mode == modeUnknown {
		i := jsonbytes.SkipSpace(b, 0)
		switch {
		case i == len(b):
		case b[i] == '{' || b[i] == '[':
			f.mode = modeBody
		default:
			f.mode = modeSSE
		}
		if f.mode != modeSSE {
			return f.write(b, len(b))
		}
	}
	if f.mode == modeBody {
		return f.write(b, len(b))
	}
	buf := f.take()
	defer f.release(buf)
	_ = f.p.Feed(b, f.block) // oversize events pass through as raw fragments
	return f.write(f.out, len(b))
}

func (f *UsageFilter) write(b []byte, n int) (int, error) {
	if len(b) == 0 {
		return n, nil
	}
	if _, err := f.w.Write(b); err != nil {
		f.err = err
		return 0, err
	}
	return n, nil
}

// Close writes what the filter still holds: the stream's last event when
// it lacked its final blank line. It does not close the underlying writer.
func (f *UsageFilter) Close() error {
	if f.closed || f.err != nil {
		return f.err
	}
	f.closed = true
	if f.mode != modeSSE {
		return nil
	}
	buf := f.take()
	defer f.release(buf)
	_ = f.p.End(f.block)
	_, err := f.write(f.out, 0)
	return err
}

// outBuffers recycles the filters' output buffers, which would otherwise
// be a few kilobytes of garbage for every write of a streamed chat
// answer.
var outBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// take sets out to an empty buffer from the pool and returns its entry.
func (f *UsageFilter) take() *[]byte {
	buf := outBuffers.Get().(*[]byte)
	f.out = (*buf)[:0]
	return buf
}

// release returns out, which may have grown, to the pool under buf; a
// huge one is dropped.
func (f *UsageFilter) release(buf *[]byte) {
	if cap(f.out) <= 256<<10 {
		*buf = f.out[:0]
		outBuffers.Put(buf)
	}
	f.out = nil
}

func (f *UsageFilter) block(ev sse.Event) {
	if ev.Oversize || !ev.HasData {
		f.out = append(f.out, ev.Raw...)
		return
	}
	// The fast path first: it takes nearly every chunk of a stream with
	// include_usage. Its search for the member also tells whether the
	// chunk may hold usage at all, as mayHoldUsage would.
	out, ok, may := cutNullUsageMarks(f.out, ev.Raw, ev.Data)
	if ok {
		f.out = out
		return
	}
	if !may {
		f.out = append(f.out, ev.Raw...)
		return
	}
	data, keep := filterChunk(ev.Data)
	switch {
	case !keep:
	case data == nil:
		f.out = append(f.out, ev.Raw...)
	default:
		f.out = replaceData(f.out, ev.Raw, data)
	}
}

// nullUsageMember is what include_usage adds to every chunk of an OpenAI
// stream but the last.
const nullUsageMember = `,"usage":null`

// cutNullUsage is the fast path for the chunk shape every OpenAI stream
// with include_usage repeats: a top-level "usage":null member near the end
// of the block's last data line, followed only by flat members (OpenAI's
// "obfuscation"). It appends raw without that member to dst; for any other
// shape ok is false and the general path decides.
//
// The member is top-level when nothing after it opens or closes an object
// or array before the final '}': that brace then closes the object that
// holds usage, and, being the last byte of the data, it is the top-level
// object's. The pattern cannot sit inside a string, where its quote would
// be escaped.
func cutNullUsage(dst, raw, data []byte) (out []byte, ok bool) {
	out, ok, _ = cutNullUsageMarks(dst, raw, data)
	return out, ok
}

// cutNullUsageMarks is cutNullUsage that also reports mayHoldUsage(data),
// read by the same search.
func cutNullUsageMarks(dst, raw, data []byte) (out []byte, ok, mayHold bool) {
	d := data[:trimmedEnd(data, false)] // trimmed of spaces and tabs only: no 'u'
	j, mayHold := usageMarks(d)
	if len(d) == 0 || d[0] != '{' || j < 0 {
		return dst, false, mayHold
	}
	tail := d[j+len(nullUsageMember):] // later members and the final '}'
	if len(tail) == 0 || (tail[0] != ',' && tail[0] != '}') || tail[len(tail)-1] != '}' ||
		bytes.ContainsAny(tail[:len(tail)-1], "{}[]") {
		return dst, false, mayHold
	}
	// Find the same bytes in the block: its last line must be that data
	// line, so the member and the tail end the block but for the line
	// endings. There the member is also the block's last: the tail holds
	// none, and no occurrence can overlap the member (it has one comma)
	// or reach into the line endings.
	end := trimmedEnd(raw, true)
	i := end - len(tail) - len(nullUsageMember)
	if i < 0 || string(raw[i:i+len(nullUsageMember)]) != nullUsageMember ||
		!bytes.Equal(raw[i+len(nullUsageMember):end], tail) {
		return dst, false, true
	}
	dst = append(dst, raw[:i]...)
	return append(dst, raw[i+len(nullUsageMember):]...), true, true
}

// trimmedEnd is len(bytes.TrimRight(b, " \t")), or with eol
// len(bytes.TrimRight(b, " \t\r\n")), without building a cutset per call.
func trimmedEnd(b []byte, eol bool) int {
	n := len(b)
	for n > 0 {
		switch b[n-1] {
		case ' ', '\t':
		case '\r', '\n':
			if !eol {
				return n
			}
		default:
			return n
		}
		n--
	}
	return n
}

// lastNullUsage is bytes.LastIndex(s, nullUsageMember).
func lastNullUsage(s []byte) int {
	last, _ := usageMarks(s)
	return last
}

// usageMarks returns lastNullUsage(s) and mayHoldUsage(s) from one pass,
// fast both where the member ends a chunk (a stream with include_usage)
// and where a chunk has no usage (most other streams): unless the member
// ends s but for one byte (the closing brace), it steps forward from 'u'
// to 'u' (rare in a chunk, where quotes and commas are everywhere) with
// the runtime's vector byte search, and looks around each: every
// occurrence of the member, of "usage" and of \u has one. The member
// has one comma, its first byte, so two occurrences never overlap and
// the last match is the last occurrence. FuzzLastNullUsage holds it to
// bytes.LastIndex and mayHoldUsage.
func usageMarks(s []byte) (lastNull int, mayHold bool) {
	const lead = len(`,"`) // the member's bytes before its 'u'
	if at := len(s) - len(nullUsageMember) - 1; at >= 0 && string(s[at:len(s)-1]) == nullUsageMember {
		return at, true // the member is the last but one byte: OpenAI's chunks
	}
	lastNull = -1
	for k := 1; k < len(s); {
		i := bytes.IndexByte(s[k:], 'u')
		if i < 0 {
			break
		}
		u := k + i
		switch {
		case s[u-1] == '\\':
			mayHold = true
		case s[u-1] == '"' && len(s)-u >= len(`usage"`) && string(s[u:u+len(`usage"`)]) == `usage"`:
			mayHold = true
			if at := u - lead; at >= 0 && len(s)-at >= len(nullUsageMember) &&
				string(s[at:at+len(nullUsageMember)]) == nullUsageMember {
				lastNull = at
			}
		}
		k = u + 1
	}
	return lastNull, mayHold
}

// filterChunk decides the fate of one chunk: dropped (keep false),
// unchanged (data nil) or rewritten.
func filterChunk(chunk []byte) (data []byte, keep bool) {
	if !mayHoldUsage(chunk) {
		return nil, true
	}
	var (
		found                bool
		before, next         = -1, -1 // end of the member before usage, start of the one after
		uStart, uVal, uEnd   int
		prevEnd              = -1
		choicesEmpty, gotAny bool
	)
	_, err := jsonbytes.Members(chunk, func(m jsonbytes.Member) bool {
		gotAny = true
		if found && next < 0 {
			next = m.KeyStart
		}
		switch {
		case m.Key.Is("usage"):
			found, before, next = true, prevEnd, -1
			uStart, uVal, uEnd = m.KeyStart, m.ValStart, m.ValEnd
		case m.Key.Is("choices"):
			choicesEmpty = jsonbytes.EmptyArray(chunk[m.ValStart:m.ValEnd])
		}
		prevEnd = m.ValEnd
		return true
	})
	if err != nil || !found || !gotAny {
		return nil, true
	}
	if string(chunk[uVal:uEnd]) == "null" {
		start, end := uStart, uEnd
		switch {
		case next >= 0:
			end = next
		case before >= 0:
			start = before
		}
		out := make([]byte, 0, len(chunk)-(end-start))
		return append(append(out, chunk[:start]...), chunk[end:]...), true
	}
	if choicesEmpty {
		return nil, false // the usage-only chunk the option added
	}
	return nil, true
}

// mayHoldUsage reports whether a chunk may have a usage member: without
// the name, plain or escaped, it has none, and passes as it is. Checked
// first, it spares chunks without usage the fast path's searches.
func mayHoldUsage(chunk []byte) bool {
	return bytes.Contains(chunk, []byte(`"usage"`)) || bytes.Contains(chunk, []byte(`\u`))
}

// replaceData appends raw to dst with its data lines replaced by one line
// carrying data, keeping the other lines and the line endings.
func replaceData(dst, raw, data []byte) []byte {
	wrote := false
	for len(raw) > 0 {
		i := bytes.IndexAny(raw, "\r\n")
		line, eol := raw, []byte(nil)
		if i >= 0 {
			line = raw[:i]
			n := 1
			if raw[i] == '\r' && i+1 < len(raw) && raw[i+1] == '\n' {
				n = 2
			}
			eol = raw[i : i+n]
			raw = raw[i+n:]
		} else {
			raw = nil
		}
		isData := bytes.HasPrefix(line, []byte("data")) && (len(line) == 4 || line[4] == ':')
		switch {
		case !isData:
			dst = append(dst, line...)
			dst = append(dst, eol...)
		case !wrote:
			wrote = true
			dst = append(dst, "data: "...)
			dst = append(dst, data...)
			dst = append(dst, eol...)
		}
	}
	return dst
}
