package proxy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/sluice-gateway/sluice/compat"
	"github.com/sluice-gateway/sluice/compat/eventstream"
)

// The quota cut-off (Options.QuotaCutoff, serve's --quota-cutoff) stops a
// stream charged to quotas once it has carried more output than its
// reservation counted: a model that ignores max_tokens would otherwise
// spend past what the buckets granted. The measure is the number of text
// pieces streamed (compat.OutputMeter, which also decodes the base64
// chunks of Bedrock InvokeModel streams), a lower bound on the output
// tokens, so an answer within its max_tokens is never cut. The stream is
// cut at the end of an event (of a frame, for Bedrock's binary event
// streams): the client gets the events so far, then an error in its stream
// format (a rate-limit error event naming the reason; for Bedrock a
// throttlingException frame), then the end of the stream; the request log
// row records the reason with error_kind rate_limited. Only priced models
// are cut.

// quotaCutoff is the cut-off state of one stream.
type quotaCutoff struct {
	// limit is the output tokens the reservation counted.
	limit int64
	// over is set once the stream passed limit; the cut waits for the
	// end of an event.
	over, cut bool
	// boundary is where, in the chunk that ends the event, the stream is
	// cut.
	boundary int
	tail     []byte // the error event still to send
	reason   string
	// frames, for an AWS event stream, tracks where its frames end.
	frames *frameEnds
}

// frameEnds follows the frames of an AWS event stream across reads: each
// starts with its total length (4 bytes, big-endian), so only the length
// and the bytes left of the current frame are kept.
type frameEnds struct {
	length  [4]byte
	have    int // bytes of length read
	left    int // bytes left of the current frame after its length
	corrupt bool
}

// minFrame is the smallest event-stream frame: its prelude and checksum;
// a length below it, or above the largest frame, is corruption.
const minFrame = 16

// scan reads chunk and returns the offsets just past the first and the
// last frames that end in it, or -1.
func (f *frameEnds) scan(chunk []byte) (first, last int) {
	first, last = -1, -1
	for i := 0; i < len(chunk) && !f.corrupt; {
		if f.left == 0 {
			n := copy(f.length[f.have:], chunk[i:])
			f.have += n
			i += n
			if f.have < len(f.length) {
				break
			}
			f.have = 0
			total := int(binary.BigEndian.Uint32(f.length[:]))
			if total < minFrame || total > eventstream.DefaultMaxMessageSize {
				f.corrupt = true
				break
			}
			f.left = total - len(f.length)
			continue
		}
		n := min(f.left, len(chunk)-i)
		f.left -= n
		i += n
		if f.left == 0 {
			last = i
			if first < 0 {
				first = i
			}
		}
	}
	return first, last
}

// inFrame reports whether the bytes so far end inside a frame.
func (f *frameEnds) inFrame() bool { return f.left > 0 || f.have > 0 }

// armQuotaCutoff sets the cut-off on the upstream body of a successful
// stream (server-sent events or an AWS event stream), when the gateway is
// configured to cut.
func (ex *exchange) armQuotaCutoff(resp *http.Response) {
	if !ex.s.opts.QuotaCutoff || resp.StatusCode != http.StatusOK || !ex.estimate.priced {
		return
	}
	var frames *frameEnds
	switch mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt {
	case "text/event-stream":
	case "application/vnd.amazon.eventstream":
		frames = &frameEnds{}
	default:
		return
	}
	reason := fmt.Sprintf("quota cut-off: the stream passed the %d output tokens its quota reservation counted (the model did not keep to max_tokens)", ex.estimate.out)
	var buf bytes.Buffer
	if err := compat.WriteStreamError(&buf, ex.route.UpstreamFormat, compat.KindRateLimited, reason); err != nil {
		return
	}
	ex.upstream.cutoff = &quotaCutoff{limit: ex.estimate.out, tail: buf.Bytes(), reason: reason, frames: frames}
}

// check notes the output of chunk and reports whether the stream is to be
// cut within it (at c.boundary).
func (c *quotaCutoff) check(m *compat.OutputMeter, chunk []byte) bool {
	end := -1
	wasOver := c.over
	if c.frames != nil {
		// Every chunk is scanned, to know where the frames end.
		first, last := c.frames.scan(chunk)
		// The piece that passed the limit may be in the frame this chunk
		// ends inside: the cut waits for that frame's end, so the client
		// gets every frame the meter counted.
		end = last
		if wasOver {
			end = first
		}
	}
	if !c.over && m.Pieces() > c.limit {
		c.over = true
	}
	if !c.over {
		return false
	}
	switch {
	case c.frames != nil && c.frames.corrupt:
		// Frames can no longer be told apart; stop before this chunk's
		// unframed bytes rather than let the stream run on.
		end = max(end, 0)
	case c.frames != nil:
		if !wasOver && c.frames.inFrame() {
			return false
		}
	default:
		if i := bytes.LastIndex(chunk, []byte("\n\n")); i >= 0 {
			end = i + 2
		}
		if i := bytes.LastIndex(chunk, []byte("\r\n\r\n")); i >= 0 {
			end = max(end, i+4)
		}
	}
	if end < 0 {
		return false
	}
	c.cut, c.boundary = true, end
	return true
}

// read sends the error event, then ends the stream.
func (c *quotaCutoff) read(p []byte) (int, error) {
	if len(c.tail) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.tail)
	c.tail = c.tail[n:]
	return n, nil
}
