package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-gateway/sluice/compat"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/store"
	"golang.org/x/net/http/httpguts"
)

var (
	// errIdleStream ends a response whose body stalled past
	// Options.IdleStreamTimeout.
	errIdleStream = errors.New("upstream stream idle")
	// errHeaderTimeout ends a call whose provider sent no response
	// headers within Options.HeaderTimeout.
	errHeaderTimeout = errors.New("upstream response headers not received in time")
	// errUpstreamNotJSON replaces an upstream 5xx answer that is not JSON
	// (a load balancer's HTML page) with an error in the caller's format.
	errUpstreamNotJSON = errors.New("upstream answered an error that is not JSON")
)

// forwardTo sends the request to the chosen provider. When the answer's
// headers went to the client, it leaves the attempt in ex.at for serve
// to copy the body (copyBody, endCopy); otherwise it ends the attempt.
func (ex *exchange) forwardTo() {
	at := ex.newAttempt()
	if at == nil {
		return
	}
	ex.at = at
	if !ex.relay(at) {
		ex.endAttempt()
	}
}

// endAttempt ends the current attempt (attemptParts.end) and counts it
// out of its provider's route.
func (ex *exchange) endAttempt() {
	at := ex.at
	ex.at = nil
	at.end()
	ex.leaveRoute()
}

// newAttempt sets up the call to the chosen provider; nil when it
// answered the client instead. The caller relays the attempt.
//
//go:noinline
func (ex *exchange) newAttempt() *attemptParts {
	p := ex.provider
	key, keyProject, err := ex.providerKey(p)
	if err != nil {
		ex.fail(http.StatusBadGateway, compat.KindUpstreamError,
			fmt.Sprintf("provider %s: its credential could not be used", p.ID), err.Error())
		return nil
	}
	project := p.Project
	if project == "" {
		project = keyProject
	}
	up := ex.snap.upstreamOf(p)
	target, err := up.base.UpstreamURL(ex.route, ex.query, compat.Vertex{Project: project, Region: p.Region})
	if err != nil {
		if pathErr, ok := errors.AsType[*compat.VertexPathError](err); ok {
			ex.fail(http.StatusForbidden, compat.KindPermissionDenied, pathErr.Error(), pathErr.Error())
			return nil
		}
		ex.fail(http.StatusBadGateway, compat.KindUpstreamError,
			fmt.Sprintf("provider %s is misconfigured on this gateway", p.ID), err.Error())
		return nil
	}
	transport := ex.s.upstream.forProvider(p, target)
	if transport == nil {
		ex.fail(http.StatusBadGateway, compat.KindUpstreamError,
			fmt.Sprintf("provider %s is reached over the tailnet, but this gateway is not running on a tailnet", p.ID), "no tailnet transport")
		return nil
	}
	ctx, cancel := context.WithCancelCause(ex.r.Context())
	// The proxy, not the transport, bounds the wait for headers, so the
	// bound holds for every transport (the tailnet's too). The same timer
	// then bounds the stream's idle gaps (upstreamResponse).
	ex.answered.Store(false)
	at := &attemptParts{} // one allocation for both
	w := &at.watch
	w.timer = time.AfterFunc(ex.s.opts.HeaderTimeout, func() {
		if w.stopped.Load() {
			return
		}
		if !ex.answered.Load() {
			cancel(errHeaderTimeout)
			return
		}
		if left := w.left(); left > 0 {
			w.timer.Reset(left) // read from meanwhile: wait for the rest
			return
		}
		cancel(errIdleStream)
	})
	at.cancel = cancel
	ex.tracked.setCancel(&at.cancel)

	// Count the tokens of every streamed chat request: ask for usage when
	// the client did not, and filter out what that adds before the client
	// sees it.
	body, usageAdded, err := compat.EnsureStreamUsage(ex.route.UpstreamFormat, ex.forwardBody())
	if err != nil {
		ex.fail(http.StatusBadRequest, compat.KindInvalidRequest, err.Error(), err.Error())
		at.end()
		return nil
	}
	var client http.ResponseWriter = ex.w
	if usageAdded && !ex.route.IsTranslated() {
		// (A translated stream is rewritten whole: the usage chunk is
		// read by the translator, never passed on as it is.)
		fw := &filteredWriter{ResponseWriter: ex.w}
		fw.filter = compat.NewUsageFilter(ex.w)
		at.filter = fw.filter
		client = fw
	}
	out := ex.r.Clone(ctx)
	out.URL = target
	out.Host = ""
	out.Close = false
	// As a reverse proxy does: hop-by-hop headers stay on this hop, but
	// a client that takes trailers says so to the provider too (where
	// the format's allow-list passes Te), and a request without a
	// User-Agent goes without one rather than with Go's.
	removeHopByHop(out.Header)
	if httpguts.HeaderValuesContainsToken(ex.r.Header["Te"], "trailers") {
		out.Header.Set("Te", "trailers")
	}
	prepareUpstreamHeaders(ex.route.UpstreamFormat, out.Header)
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header.Set("User-Agent", "")
	}
	compat.SetTranslatedHeaders(ex.route, out.Header)
	setGrantHeaders(out.Header, p.Headers) // the provider's client identity
	setGrantHeaders(out.Header, ex.decision.Headers)
	// Shared, not copied: a header value is replaced, never written to in
	// place, and the slice is full (an Add copies).
	out.Header[headerLoop] = ex.s.loopID
	ex.propagateTrace(out)
	switch {
	case up.authName != "" && key == p.APIKey:
		// Shared, as the loop header's value is.
		out.Header[up.authName] = up.authValue
	case ex.snap.creds[p.ID] != nil:
		compat.SetAuth(out.Header, policy.AuthBearer, key) // minted OAuth access token
	default:
		compat.SetAuth(out.Header, p.Authorization, key)
	}
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.ContentLength = int64(len(body))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	at.out, at.transport = out, transport
	at.client = client
	return at
}

// attemptParts are what one attempt allocates, in one piece: its timer's
// watch, and what relaying it needs.
type attemptParts struct {
	watch idleWatch
	// out is the request to the provider, sent with transport; client is
	// what the answer is written to; cancel ends out's context.
	out       *http.Request
	transport http.RoundTripper
	client    http.ResponseWriter
	cancel    context.CancelCauseFunc
	// resp is the provider's answer once its headers went to the
	// client; trailers counts the trailers they announced.
	resp     *http.Response
	trailers int
	// buf is the copy buffer while copyBody copies; flushEach says to flush
	// after every write.
	buf       []byte
	flushEach bool
	// filter, when set, takes out of the stream the usage the gateway
	// asked for.
	filter *compat.UsageFilter
}

// end closes the attempt: its usage filter, its timer's watch and its
// context, in this order.
func (at *attemptParts) end() {
	if at.filter != nil {
		at.filter.Close()
	}
	at.watch.stop()
	at.cancel(nil)
}

// copyBuffers recycles the buffers relay copies response bodies
// through, instead of allocating 32 KiB per request; streamBuffers are
// the smaller ones of streamed answers.
var (
	copyBuffers   = &bufferPool{size: 32 << 10}
	streamBuffers = &bufferPool{size: streamBufferSize}
)

// streamBufferSize is the copy buffer of a streamed answer, held for the
// stream's whole life, idle or not (relay reads into it while it waits
// for the next event): a stream arrives one event per read (a few
// hundred bytes, rarely over a kilobyte), and net/http buffers the
// upstream connection itself, so a larger buffer would only sit empty for
// as long as the stream is open, which with ten thousand streams open is
// tens of megabytes. An event larger than the buffer takes two reads and
// two writes, not more bytes. A large body gets 32 KiB, since it would
// otherwise take sixteen times the reads.
const streamBufferSize = 2 << 10

type bufferPool struct {
	size int
	p    sync.Pool
}

// get returns a buffer of the pool's size; give the same pointer back to
// put, which then costs no allocation.
func (b *bufferPool) get() *[]byte {
	if buf, ok := b.p.Get().(*[]byte); ok {
		return buf
	}
	buf := make([]byte, b.size)
	return &buf
}

func (b *bufferPool) put(buf *[]byte) { b.p.Put(buf) }

// copyBuffer picks a request's copy buffer: a stream buffer once the
// answer is known to be streamed (upstreamResponse runs before the body
// is copied), a large one otherwise. It holds one buffer at a time.
type copyBuffer struct {
	stream bool
	held   *[]byte
	from   *bufferPool
}

func (c *copyBuffer) Get() []byte {
	c.from = copyBuffers
	if c.stream {
		c.from = streamBuffers
	}
	c.held = c.from.get()
	return *c.held
}

func (c *copyBuffer) Put(buf []byte) {
	if c.held == nil || cap(buf) != cap(*c.held) {
		return // not ours: let the collector have it
	}
	c.from.put(c.held)
	c.held, c.from = nil, nil
}

// filteredWriter sends a response body through a stream filter on its way
// to the client.
type filteredWriter struct {
	http.ResponseWriter
	filter *compat.UsageFilter
}

func (w *filteredWriter) Write(p []byte) (int, error) { return w.filter.Write(p) }

func (w *filteredWriter) Flush() { flush(w.ResponseWriter) }

func (w *filteredWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// prepareUpstreamHeaders keeps only the request headers the format's
// allow-list names (compat.FilterRequestHeaders): no client credential,
// cookie, billing header, identity header of `tailscale serve` or unknown
// header reaches a provider. Accept-Encoding goes too, so the transport
// negotiates compression itself and the recorder reads plain bytes, and
// Content-Encoding, since the body is forwarded decoded.
func prepareUpstreamHeaders(format string, h http.Header) {
	compat.FilterRequestHeaders(format, h)
}

// upstreamResponse runs when the provider's headers arrive, with the
// attempt's timer stopped; it rearms the timer for the body's idle gaps.
func (ex *exchange) upstreamResponse(resp *http.Response, w *idleWatch) error {
	resp.Header.Del("Set-Cookie")
	stripUpstreamCORS(resp.Header)
	if resp.StatusCode >= 500 && !isJSON(resp.Header.Get("Content-Type")) {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		return fmt.Errorf("%w (status %d)", errUpstreamNotJSON, resp.StatusCode)
	}
	keepBody, keepRaw := ex.wantsResponse()
	keepBody = keepBody || ex.captureContent()
	stream := ex.req.Stream || compat.StreamingResponse(resp.Header)
	ex.copyBuf.stream = stream
	ex.rw.flushHeader = stream
	ex.recorder = compat.NewRecorder(ex.route.UpstreamFormat, stream, compat.RecorderOptions{
		KeepBody:  keepBody,
		KeepRaw:   keepRaw,
		MaxBytes:  int(ex.s.opts.KeptBodyMax),
		Allowance: ex.kept,
		Model:     ex.req.Model,
		Header:    resp.Header,
	})
	idle := ex.s.opts.IdleStreamTimeout
	ex.answered.Store(true) // the timer, stopped, now ends idle streams
	w.arm(idle)
	ex.upstream = &upstreamBody{
		src:   resp.Body,
		rec:   ex.recorder,
		idle:  idle,
		watch: w,
		ctx:   resp.Request.Context(),
	}
	if ex.captures() {
		ex.upstream.raw = &limitedBuffer{lease: ex.kept}
	}
	if len(ex.quotas) > 0 {
		ex.upstream.meter = compat.NewOutputMeter(ex.route.UpstreamFormat)
		ex.armQuotaCutoff(resp)
	}
	resp.Body = ex.upstream
	return nil
}

// providerKey is the key of p, which a credential may have to mint: a
// wait Cut ends.
func (ex *exchange) providerKey(p *policy.Provider) (key, project string, err error) {
	if ex.snap.creds[p.ID] == nil {
		return ex.snap.providerKey(ex.r.Context(), p)
	}
	ctx, done := ex.waitCtx()
	defer done()
	return ex.snap.providerKey(ctx, p)
}

// upstreamError answers a request whose provider could not be reached or
// answered nothing usable.
func (ex *exchange) upstreamError(p *policy.Provider, err, cause error) {
	detail := upstreamDetail(err)
	var ne net.Error
	switch {
	case ex.ended():
		// The client left (or Cut ended the request); nobody is there to
		// answer.
		ex.status, ex.err = statusClientClosed, "client closed the connection"
		ex.w.status = statusClientClosed
	case errors.Is(cause, errHeaderTimeout) || errors.Is(err, errHeaderTimeout):
		ex.fail(http.StatusGatewayTimeout, compat.KindTimeout,
			fmt.Sprintf("provider %s did not answer in time (no response headers within %s)", p.ID, ex.s.opts.HeaderTimeout), errHeaderTimeout.Error()+": "+detail)
	case errors.Is(err, errConnectTimeout):
		ex.fail(http.StatusGatewayTimeout, compat.KindTimeout,
			fmt.Sprintf("provider %s could not be connected to within %s", p.ID, ex.s.opts.ConnectTimeout), detail)
	case errors.Is(cause, errIdleStream):
		ex.fail(http.StatusGatewayTimeout, compat.KindTimeout,
			fmt.Sprintf("provider %s stopped sending for %s", p.ID, ex.s.opts.IdleStreamTimeout), detail)
	case errors.Is(err, errUpstreamNotJSON):
		ex.fail(http.StatusBadGateway, compat.KindUpstreamError,
			fmt.Sprintf("provider %s failed: %v", p.ID, err), err.Error())
	case errors.As(err, &ne) && ne.Timeout():
		ex.fail(http.StatusGatewayTimeout, compat.KindTimeout,
			fmt.Sprintf("provider %s did not answer in time", p.ID), detail)
	default:
		msg := fmt.Sprintf("provider %s could not be reached", p.ID)
		if reason := UnreachableReason(err); reason != "" {
			msg += ": " + reason
		}
		ex.fail(http.StatusBadGateway, compat.KindUpstreamError, msg, detail)
	}
	if ex.status >= 500 {
		// The record keeps the detail too, but a database row is not where
		// an operator looks first.
		ex.s.log.Warn("provider request failed", "request_id", ex.id, "provider", p.ID,
			"status", ex.status, "reason", UnreachableReason(err), "err", detail)
	}
}

func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || mt == "text/event-stream" || mt == "application/vnd.amazon.eventstream")
}

// upstreamBody is the provider's response body as the client reads it:
// every byte also goes to the recorder, and a stall longer than idle ends
// the stream.
type upstreamBody struct {
	src     io.ReadCloser
	rec     io.Writer
	idle    time.Duration
	watch   *idleWatch
	done    bool
	readErr error
	// raw keeps the bytes as sent to the client, for database.save_raws.
	raw *limitedBuffer
	// ctx is the upstream call's context; its cause tells why it ended,
	// if it did.
	ctx context.Context
	// meter estimates the output streamed, for quotas; nil when no
	// quota charges the request.
	meter *compat.OutputMeter
	// cutoff, when set, ends the stream once it passes its reservation.
	cutoff *quotaCutoff
}

func (b *upstreamBody) Read(p []byte) (int, error) {
	if b.cutoff != nil && b.cutoff.cut {
		return b.cutoff.read(p)
	}
	n, err := b.src.Read(p)
	return b.tee(p, n, err)
}

// tee passes what Read read to the meter, the recorder and the kept raw
// answer, and notes the body's end. It is apart from Read, whose frame
// is on the stack while a stream waits (see serve).
//
//go:noinline
func (b *upstreamBody) tee(p []byte, n int, err error) (int, error) {
	if n > 0 {
		if b.meter != nil {
			b.meter.Write(p[:n])
			if b.cutoff != nil && b.cutoff.check(b.meter, p[:n]) {
				n, err = b.cutoff.boundary, nil
				b.src.Close()
			}
		}
		b.rec.Write(p[:n])
		b.raw.Write(p[:n])
		b.watch.read()
	}
	switch {
	case err == io.EOF:
		b.done = true
		b.watch.stop()
	case err != nil && b.readErr == nil:
		b.readErr = err
	}
	return n, err
}

func (b *upstreamBody) Close() error {
	b.watch.stop()
	return b.src.Close()
}

// idleWatch is an attempt's timer: first the bound on the wait for
// response headers, then on the body's idle gaps. Reads note their time
// instead of resetting the timer (a lock and a timer-heap update for
// every event of a stream); when the timer fires it rearms itself for
// what is left of the gap since the last read, and ends the attempt
// only once a whole gap passed without one. A stall is thus cut exactly
// as long after the last read as before.
type idleWatch struct {
	timer *time.Timer
	idle  time.Duration
	// epoch is when the body's watch began; last is the time of the
	// last read, in nanoseconds after epoch.
	epoch   time.Time
	last    atomic.Int64
	stopped atomic.Bool
}

// arm starts watching the body's gaps, the timer being stopped.
func (w *idleWatch) arm(idle time.Duration) {
	w.idle, w.epoch = idle, time.Now()
	w.last.Store(0)
	w.timer.Reset(idle)
}

// read notes that bytes arrived now.
func (w *idleWatch) read() { w.last.Store(int64(time.Since(w.epoch))) }

// left is how much of the idle gap remains since the last read.
func (w *idleWatch) left() time.Duration {
	return w.idle - (time.Since(w.epoch) - time.Duration(w.last.Load()))
}

// stop ends the watch: the timer, even one rearming itself as it
// fires, ends nothing any more.
func (w *idleWatch) stop() {
	w.stopped.Store(true)
	w.timer.Stop()
}

// annotate notes on rec how the upstream body ended.
func (b *upstreamBody) annotate(rec *store.Record) {
	switch {
	case b.cutoff != nil && b.cutoff.cut && rec.Error == "":
		rec.Error, rec.ErrorKind = b.cutoff.reason, string(compat.KindRateLimited)
	case b.readErr == nil || rec.Error != "":
	case errors.Is(context.Cause(b.ctx), errIdleStream):
		rec.Error = fmt.Sprintf("upstream stream idle for %s; ended", b.idle)
		rec.ErrorKind = string(compat.KindTimeout)
	default:
		rec.Error = "upstream stream failed: " + b.readErr.Error()
		rec.ErrorKind = string(compat.KindUpstreamError)
	}
}

// limitedBuffer keeps a prefix of what is written to it, as long as its
// lease grants the memory (charged by capacity, which is what the buffer
// holds); a nil one keeps nothing.
type limitedBuffer struct {
	buf   []byte
	lease *keptLease
	// truncated is set once something was not kept; nothing is kept
	// after that, so what is kept is a prefix.
	truncated bool
}

func (l *limitedBuffer) Write(p []byte) {
	if l == nil || l.truncated || len(p) == 0 {
		return
	}
	need := len(l.buf) + len(p)
	if need > cap(l.buf) {
		// Double, as append would, but within what the lease can give.
		want := int(min(int64(max(need, 2*cap(l.buf), 64<<10)), int64(cap(l.buf))+l.lease.room()))
		if want < need || !l.lease.Take(want-cap(l.buf)) {
			l.keepWhatFits(p)
			return
		}
		grown := make([]byte, len(l.buf), want)
		copy(grown, l.buf)
		l.buf = grown
	}
	l.buf = append(l.buf, p...)
}

// keepWhatFits fills the buffer's spare capacity with the start of p and
// marks the buffer truncated.
func (l *limitedBuffer) keepWhatFits(p []byte) {
	n := min(len(p), cap(l.buf)-len(l.buf))
	l.buf = append(l.buf, p[:n]...)
	l.truncated = true
}

// Bytes returns what was kept; nil for a nil buffer.
func (l *limitedBuffer) Bytes() []byte {
	if l == nil {
		return nil
	}
	return l.buf
}

// Truncated reports whether the buffer dropped bytes.
func (l *limitedBuffer) Truncated() bool { return l != nil && l.truncated }
