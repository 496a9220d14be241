package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/sluice-gateway/sluice/compat"
	"github.com/sluice-gateway/sluice/compat/translate"
	"github.com/sluice-gateway/sluice/policy"
)

// A provider with "translate": true serves clients of every format. When
// it does not speak the client's, the request is translated (package
// translate) into a format it does, once per provider tried; the answer,
// streamed or whole, and its errors are translated back. Policy judged
// the client's request with both formats in its input; the translated body
// is read again and must name the same model and stream flag before it is
// sent. The recorder reads the upstream's own bytes, so usage and cost are
// the provider's; hooks get the client's request and a response body in
// the client's format.

// errTranslationDisagrees reports a translated body that does not say
// what policy judged.
var errTranslationDisagrees = errors.New("the translated request does not name what policy judged")

// translateRequest returns the client's body translated for route; nil
// when the route is not translated.
func (ex *exchange) translateRequest(route compat.Route) ([]byte, error) {
	if !route.IsTranslated() {
		return nil, nil
	}
	out, err := translate.RequestBody(route.Format, route.UpstreamFormat, ex.body)
	if err != nil {
		return nil, err
	}
	// A client whose path names the model and the stream (Gemini,
	// Bedrock) has a body that does not: the translated one must.
	if out, err = compat.CompleteTranslated(route, out); err != nil {
		return nil, fmt.Errorf("%w: %w", errTranslationDisagrees, err)
	}
	req, err := compat.InspectUpstream(route, out)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errTranslationDisagrees, err)
	}
	if req.Model != ex.req.Model || req.Stream != ex.req.Stream {
		return nil, fmt.Errorf("%w: model %q stream %v, judged %q stream %v", errTranslationDisagrees, req.Model, req.Stream, ex.req.Model, ex.req.Stream)
	}
	return out, nil
}

// retranslate translates the request again after a hook replaced its body
// (with the same model).
func (ex *exchange) retranslate() bool {
	if !ex.route.IsTranslated() {
		return true
	}
	route, err := ex.route.Translated(ex.route.UpstreamFormat, ex.req)
	if err == nil {
		var up []byte
		if up, err = ex.translateRequest(route); err == nil {
			ex.route, ex.upBody = route, up
			return true
		}
	}
	ex.failTranslation(ex.provider, route, err)
	return false
}

// failTranslation answers a request that could not be translated for
// provider p: what the upstream format cannot carry, or a body that does
// not read, is the client's to change (400, naming the field); a
// translation that disagrees with what policy judged is sluice's fault and
// is never sent.
func (ex *exchange) failTranslation(p *policy.Provider, route compat.Route, err error) {
	var ue *translate.UnsupportedError
	switch {
	case errors.As(err, &ue):
		ex.fail(http.StatusBadRequest, compat.KindInvalidRequest,
			fmt.Sprintf("model %q is served by provider %s in the %s format, and this request cannot be translated into it: %s",
				ex.req.Model, p.ID, route.UpstreamFormat, ue.Error()), "translation: "+ue.Error())
	case errors.Is(err, errTranslationDisagrees), errors.Is(err, compat.ErrNoTranslation):
		ex.fail(http.StatusInternalServerError, compat.KindInternal,
			"sluice could not translate the request for the provider; it was not forwarded", "translation: "+err.Error())
	default:
		ex.fail(http.StatusBadRequest, compat.KindInvalidRequest,
			fmt.Sprintf("the request could not be translated for provider %s: %v", p.ID, err), "translation: "+err.Error())
	}
}

// forwardBody is the body the provider receives (before the stream usage
// option): the translated one for a translated route.
func (ex *exchange) forwardBody() []byte {
	if ex.route.IsTranslated() && ex.upBody != nil {
		return ex.upBody
	}
	return ex.body
}

// clientResponseBody is a response body the recorder rebuilt (in the
// upstream format) as the client's format has it, for hooks; nil when it
// does not translate (an error answer).
func (ex *exchange) clientResponseBody(body []byte) []byte {
	if !ex.route.IsTranslated() || len(body) == 0 {
		return body
	}
	out, err := translate.ResponseBody(ex.route.UpstreamFormat, ex.route.Format, body, ex.translateOptions())
	if err != nil {
		return nil
	}
	return out
}

// maxTranslatedBody bounds a whole (not streamed) answer read to be
// translated.
const maxTranslatedBody = compat.DefaultMaxRecordBytes

// translateResponse makes a translated route's answer the client's
// format, once the recorder sits on the upstream's bytes: an error as the
// client's format writes it, a stream event by event as it arrives, a
// JSON body whole.
func (ex *exchange) translateResponse(resp *http.Response) error {
	if !ex.route.IsTranslated() {
		return nil
	}
	from, to := ex.route.UpstreamFormat, ex.route.Format
	h := resp.Header
	h.Del("Content-Length")
	h.Del("X-Amzn-Errortype")
	length := resp.ContentLength // the upstream's, for readAnswer
	resp.ContentLength = -1
	if resp.StatusCode >= 400 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		status, kind, msg := compat.ReadError(resp.StatusCode, body)
		ex.answerWith(resp, status, kind, msg)
		return nil
	}
	if compat.StreamingResponse(h) || ex.req.Stream && !isJSONType(h.Get("Content-Type")) {
		opts := ex.translateOptions()
		opts.StreamUsage = ex.clientAskedUsage()
		opts.GeminiJSONArray = to == compat.GeminiGenerateContent && !ex.route.SSE
		ts := &translatedStream{ex: ex, src: resp.Body}
		tw, err := translate.NewStream(from, to, &ts.out, opts)
		if err != nil {
			resp.Body.Close()
			ex.translateErr = "translation: " + err.Error()
			ex.answerWith(resp, http.StatusBadGateway, compat.KindUpstreamError,
				fmt.Sprintf("sluice cannot translate the provider's stream from %s to %s", from, to))
			return nil
		}
		ts.tr = tw
		h.Set("Content-Type", streamContentType(to, opts))
		resp.Body = ts
		return nil
	}
	body, err := readAnswer(resp.Body, length)
	resp.Body.Close()
	var out []byte
	if err == nil {
		out, err = translate.ResponseBody(from, to, body, ex.translateOptions())
	}
	if err != nil {
		ex.translateErr = "translation of the answer: " + err.Error()
		ex.answerWith(resp, http.StatusBadGateway, compat.KindUpstreamError,
			fmt.Sprintf("provider %s answered, but its answer could not be translated from %s to %s: %v", ex.provider.ID, from, to, err))
		return nil
	}
	h["Content-Type"] = jsonContentType
	h.Set("Content-Length", strconv.Itoa(len(out)))
	resp.ContentLength = int64(len(out))
	resp.Body = &bytesBody{Reader: *bytes.NewReader(out)}
	return nil
}

// jsonContentType is the Content-Type of a translated JSON answer.
// Shared, not copied: a header value is replaced, never written to in
// place, and the slice is full (an Add copies).
var jsonContentType = []string{"application/json"}

// readAnswer reads a whole (not streamed) answer to be translated, to
// its end, as io.ReadAll reads at most maxTranslatedBody+1 bytes of it:
// an answer that says its length is read into one array of that size
// (and a byte for the end), instead of the few io.ReadAll grows through.
func readAnswer(r io.Reader, length int64) ([]byte, error) {
	const limit = maxTranslatedBody + 1
	size := 512
	if length >= 0 && length < limit {
		size = int(length) + 1
	}
	b := make([]byte, 0, size)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):min(cap(b), limit)])
		b = b[:len(b)+n]
		switch {
		case len(b) == limit:
			return nil, fmt.Errorf("the answer exceeds %d bytes", maxTranslatedBody)
		case err == io.EOF:
			return b, nil
		case err != nil:
			return nil, err
		}
	}
}

// bytesBody is a translated answer as a response body: a bytes.Reader
// that closes, in one allocation rather than two.
type bytesBody struct{ bytes.Reader }

func (*bytesBody) Close() error { return nil }

// answerWith replaces resp with an error answer in the client's format.
func (ex *exchange) answerWith(resp *http.Response, status int, kind compat.ErrorKind, msg string) {
	var a bufferedAnswer
	a.h = http.Header{}
	compat.WriteError(&a, ex.route.Format, status, kind, msg)
	for k, vs := range a.h {
		resp.Header[k] = vs
	}
	resp.StatusCode, resp.Status = a.status, ""
	resp.ContentLength = int64(a.body.Len())
	resp.Body = io.NopCloser(&a.body)
}

// clientAskedUsage reports whether an OpenAI chat client asked for the
// usage chunk at the end of its stream.
func (ex *exchange) clientAskedUsage() bool {
	if ex.route.Format != compat.OpenAIChat {
		return false
	}
	_, added, err := compat.EnsureStreamUsage(compat.OpenAIChat, ex.body)
	return err == nil && !added
}

// streamContentType is the media type of a stream in format.
func streamContentType(format string, opts translate.Options) string {
	switch {
	case format == compat.BedrockConverse || format == compat.BedrockModelInvoke:
		return "application/vnd.amazon.eventstream"
	case opts.GeminiJSONArray:
		return "application/json"
	}
	return "text/event-stream"
}

// translateOptions are what every translated answer takes from the
// request: the model it named, for answers whose format carries none
// (Bedrock's).
func (ex *exchange) translateOptions() translate.Options {
	return translate.Options{Model: ex.req.Model}
}

func isJSONType(ct string) bool {
	return len(ct) >= len("application/json") && ct[:len("application/json")] == "application/json"
}

// bufferedAnswer is an http.ResponseWriter that keeps what is written.
type bufferedAnswer struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (a *bufferedAnswer) Header() http.Header         { return a.h }
func (a *bufferedAnswer) WriteHeader(status int)      { a.status = status }
func (a *bufferedAnswer) Write(p []byte) (int, error) { return a.body.Write(p) }

// translatedStream is a translated route's streamed answer as the client
// reads it: the upstream's bytes (which the recorder has seen) go through
// the stream translator, and what it writes is read out. The upstream's
// end closes the translator, which ends the client's stream properly; a
// failed upstream read is passed on (the client's stream is cut, not
// ended as if complete).
type translatedStream struct {
	ex  *exchange
	src io.ReadCloser
	tr  io.WriteCloser
	out pendingEvents
	buf *[]byte // from streamBuffers while the stream is read
	// end is the error Read returns once out is drained.
	end error
}

func (t *translatedStream) Read(p []byte) (int, error) {
	for t.out.len() == 0 {
		if t.end != nil {
			return 0, t.end
		}
		if t.buf == nil {
			t.buf = streamBuffers.get()
		}
		n, err := t.src.Read(*t.buf)
		if n > 0 {
			if _, werr := t.tr.Write((*t.buf)[:n]); werr != nil {
				// The translator wrote the client's error event; what is
				// left of the upstream stream cannot be translated.
				t.ex.translateErr = "translation of the stream: " + werr.Error()
				t.end = io.EOF
				continue
			}
		}
		switch {
		case err == io.EOF:
			if cerr := t.tr.Close(); cerr != nil && t.ex.translateErr == "" {
				t.ex.translateErr = "translation of the stream: " + cerr.Error()
			}
			t.end = io.EOF
		case err != nil:
			t.end = err
		}
	}
	return t.out.read(p), nil
}

func (t *translatedStream) Close() error {
	if t.buf != nil {
		streamBuffers.put(t.buf)
		t.buf = nil
	}
	t.out.release()
	return t.src.Close()
}

// pendingEvents are the translated events not yet read out, b[off:]:
// the translator writes them here. The array is a stream buffer (most
// reads translate into less than one) until a read translates into more.
type pendingEvents struct {
	b    []byte
	off  int
	held *[]byte // from streamBuffers until release
}

func (e *pendingEvents) Write(p []byte) (int, error) {
	if e.held == nil {
		e.held = streamBuffers.get()
		e.b = (*e.held)[:0]
	}
	if e.off == len(e.b) {
		e.b, e.off = e.b[:0], 0
	}
	e.b = append(e.b, p...)
	return len(p), nil
}

func (e *pendingEvents) len() int { return len(e.b) - e.off }

func (e *pendingEvents) read(p []byte) int {
	n := copy(p, e.b[e.off:])
	e.off += n
	return n
}

// release gives the stream buffer back; the events left are dropped.
func (e *pendingEvents) release() {
	if e.held != nil {
		streamBuffers.put(e.held)
	}
	*e = pendingEvents{}
}
