package proxy

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/sluice-gateway/sluice/compat"
)

// The quota cut-off (Options.QuotaCutoff, serve's --quota-cutoff) stops a
// stream charged to quotas once it has carried more output than its
// reservation counted: a model that ignores max_tokens would otherwise
// spend past what the buckets granted. The measure is the number of text
// pieces streamed (compat.OutputMeter), a lower bound on the output
// tokens, so an answer within its max_tokens is never cut. The stream is
// cut at the end of an event: the client gets the events so far, then an
// error event in its stream format (a rate-limit error naming the reason),
// then the end of the stream; the request log row records the reason with
// error_kind rate_limited. Only server-sent-event streams are cut (not
// Bedrock's binary event streams), and only for priced models.

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
}

// armQuotaCutoff sets the cut-off on the upstream body of a successful
// SSE stream, when the gateway is configured to cut.
func (ex *exchange) armQuotaCutoff(resp *http.Response) {
	if !ex.s.opts.QuotaCutoff || resp.StatusCode != http.StatusOK || !ex.estimate.priced {
		return
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return
	}
	reason := fmt.Sprintf("quota cut-off: the stream passed the %d output tokens its quota reservation counted (the model did not keep to max_tokens)", ex.estimate.out)
	var buf bytes.Buffer
	if err := compat.WriteStreamError(&buf, ex.route.Format, compat.KindRateLimited, reason); err != nil {
		return
	}
	ex.upstream.cutoff = &quotaCutoff{limit: ex.estimate.out, tail: buf.Bytes(), reason: reason}
}

// check notes the output of chunk and reports whether the stream is to be
// cut within it (at c.boundary).
func (c *quotaCutoff) check(m *compat.OutputMeter, chunk []byte) bool {
	if !c.over && m.Pieces() > c.limit {
		c.over = true
	}
	if !c.over {
		return false
	}
	end := -1
	if i := bytes.LastIndex(chunk, []byte("\n\n")); i >= 0 {
		end = i + 2
	}
	if i := bytes.LastIndex(chunk, []byte("\r\n\r\n")); i >= 0 {
		end = max(end, i+4)
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
