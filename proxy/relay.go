package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/sluice-gateway/sluice/compat"
)

// errSwitchedProtocols refuses an answer that switches protocols: no
// provider API upgrades a connection, and sluice asks for none.
var errSwitchedProtocols = errors.New("upstream switched protocols unasked")

// relay makes the attempt's upstream call and sends the answer's status
// and headers to the client; it reports whether the body is left to copy
// (copyBody, the upstream body teeing it into the recorder).
//
// relay and copyBody do what httputil.ReverseProxy did here, without what
// sluice never used (a Director, X-Forwarded headers, 1xx answers,
// protocol upgrades) and without what that cost every open stream for its
// whole life: a second copy of the request for the 1xx trace, a timer
// and a goroutine per event stream to flush its headers (which
// responseRecorder does), and a kilobyte of stack frame under the copy
// loop.
func (ex *exchange) relay(at *attemptParts) bool {
	resp, err := at.transport.RoundTrip(at.out)
	if err != nil {
		ex.attemptError(at, err)
		return false
	}
	if !ex.answerHeaders(at, resp) {
		return false
	}
	at.resp = resp
	return true
}

// attemptError ends an attempt whose provider gave no usable answer:
// failover takes it on, or the client is told why.
func (ex *exchange) attemptError(at *attemptParts, err error) {
	cause := context.Cause(at.out.Context())
	if !ex.attemptFailed(err, cause) {
		ex.upstreamError(ex.provider, err, cause)
	}
}

// answerHeaders looks at the provider's answer (the attempt's outcome,
// the recorder, a translation) and sends its status and headers to the
// client; it reports false when it ended the attempt instead.
//
//go:noinline
func (ex *exchange) answerHeaders(at *attemptParts, resp *http.Response) bool {
	if resp.StatusCode == http.StatusSwitchingProtocols {
		resp.Body.Close()
		ex.attemptError(at, errSwitchedProtocols)
		return false
	}
	removeHopByHop(resp.Header)
	if err := ex.modifyResponse(at, resp); err != nil {
		resp.Body.Close()
		ex.attemptError(at, err)
		return false
	}
	h := at.client.Header()
	for k, vv := range resp.Header {
		for _, v := range vv {
			h.Add(k, v)
		}
	}
	if at.trailers = len(resp.Trailer); at.trailers > 0 {
		keys := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		h.Add("Trailer", strings.Join(keys, ", "))
	}
	at.client.WriteHeader(resp.StatusCode)
	return true
}

// modifyResponse runs when the provider's headers arrive: it stops the
// wait for them (or finds it over), counts the attempt, sets up the
// recorder and the idle watch, and translates the answer when the client
// speaks another format.
func (ex *exchange) modifyResponse(at *attemptParts, resp *http.Response) error {
	if !at.watch.timer.Stop() {
		return errHeaderTimeout
	}
	if err := ex.attemptAnswered(resp); err != nil {
		return err
	}
	if err := ex.upstreamResponse(resp, &at.watch); err != nil {
		return err
	}
	return ex.translateResponse(resp)
}

// startCopy flushes the headers of an answer passed on as it arrives and
// takes the copy buffer.
//
//go:noinline
func (ex *exchange) startCopy() {
	at := ex.at
	at.flushEach = flushesEachWrite(at.resp)
	if at.flushEach {
		flush(at.client)
	}
	at.buf = ex.copyBuf.Get()
}

// copyBody copies the answer's body to the client through the copy
// buffer, flushing after every write when flushEach is set (an event
// stream, or a body of unknown length). Its frame is on the stack while a
// stream waits for its next event (see serve): what needs more runs
// before and after, in startCopy and endCopy.
func (at *attemptParts) copyBody() error {
	for {
		n, rerr := at.resp.Body.Read(at.buf)
		if n > 0 {
			w, werr := at.client.Write(at.buf[:n])
			if werr != nil {
				return werr
			}
			if w != n {
				return io.ErrShortWrite
			}
			if at.flushEach {
				flush(at.client)
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// endCopy gives the copy buffer back, closes the answer's body and ends
// the attempt. An answer cut short ends the client's answer too
// (http.ErrAbortHandler), so that it is not taken for a complete one; a
// whole one gets the provider's trailers.
//
//go:noinline
func (ex *exchange) endCopy(err error) {
	at, resp := ex.at, ex.at.resp
	ex.copyBuf.Put(at.buf)
	at.buf = nil
	resp.Body.Close() // before the trailers are read: it fills them in
	defer ex.endAttempt()
	if err != nil {
		if ex.r.Context().Value(http.ServerContextKey) == nil {
			return // called outside an http.Server: nothing to abort
		}
		panic(http.ErrAbortHandler)
	}
	if len(resp.Trailer) == 0 {
		return
	}
	flush(at.client) // a trailer needs a chunked answer, not a Content-Length
	// Trailers announced with the headers are sent under their names;
	// when others came, all go with net/http's prefix for unannounced ones.
	h := at.client.Header()
	announced := len(resp.Trailer) == at.trailers
	for k, vv := range resp.Trailer {
		if !announced {
			k = http.TrailerPrefix + k
		}
		for _, v := range vv {
			h.Add(k, v)
		}
	}
}

// flushesEachWrite reports whether an answer is passed on as it arrives:
// an event stream (SSE or AWS), and any body of unknown length (a JSON
// array streamed). A body of known length goes in as few writes as the
// buffer allows.
func flushesEachWrite(resp *http.Response) bool {
	return compat.StreamingResponse(resp.Header) || resp.ContentLength == -1
}

// hopByHop are the headers that describe one connection (RFC 9110,
// section 7.6.1), never passed from one hop to the next.
var hopByHop = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// removeHopByHop deletes the hop-by-hop headers from h, and those its
// Connection header names.
func removeHopByHop(h http.Header) {
	for _, f := range h["Connection"] {
		for sf := range strings.SplitSeq(f, ",") {
			if sf = strings.TrimSpace(sf); sf != "" {
				h.Del(sf)
			}
		}
	}
	for _, name := range hopByHop {
		h.Del(name)
	}
}
