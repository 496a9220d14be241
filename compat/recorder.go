package compat

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/sluice-gateway/sluice/usage"
	"io"
	"net/http"

	"github.com/sluice-gateway/sluice/compat/eventstream"
	"github.com/sluice-gateway/sluice/compat/sse"
)

// DefaultMaxRecordBytes bounds what a recorder holds when
// RecorderOptions.MaxBytes is zero: one JSON body, one stream event, and
// what it keeps (assembled tool-call arguments, rebuilt text, raw
// messages) together.
const DefaultMaxRecordBytes = 32 << 20

// ErrRecordTooLarge reports that the recorder stopped keeping something at
// its size bound or because its Allowance refused more memory; the counts
// it did see are still reported.
var ErrRecordTooLarge = errors.New("response exceeds the recorder's size limit")

// ErrMalformedResponse reports a response that is not what it declares: a
// body that is not valid JSON, a stream without SSE data events or whose
// messages are not JSON, an event stream with a corrupt or cut frame.
// Whatever the status, such an answer is the upstream's failure.
var ErrMalformedResponse = errors.New("malformed response")

// Allowance meters the memory a recorder keeps beyond its fixed state:
// the JSON body it parses, the partial stream message its framing holds,
// the reconstructed text, tool-call arguments and raw messages. Take asks
// for n more bytes and false refuses them; the recorder then stops keeping
// and reports ErrRecordTooLarge. The gateway hands each request one
// Allowance drawn from a process-wide budget.
type Allowance interface {
	Take(n int) bool
}

// Recorder reads a response body as it passes to the client (the proxy
// tees the bytes into it) and reports what it saw. Write never fails, so a
// Recorder cannot break the stream it observes. Result may be called once
// the body has ended, and again: every call returns the same Result. Later
// Writes are ignored. A Recorder is not safe for concurrent use.
type Recorder interface {
	io.Writer
	Result() Result
}

// RecorderOptions configure a Recorder.
type RecorderOptions struct {
	// KeepBody keeps the response body: the body itself for a JSON
	// response, the equivalent non-stream JSON rebuilt from a stream.
	KeepBody bool
	// KeepRaw keeps the raw messages: the SSE data payloads or event
	// JSONs of a stream, the body of a JSON response.
	KeepRaw bool
	// MaxBytes bounds what the recorder holds; zero means
	// DefaultMaxRecordBytes.
	MaxBytes int
	// Allowance, when set, must grant every byte the recorder holds on
	// top of MaxBytes' bound.
	Allowance Allowance
	// Model is the model the request named; Result reports it when the
	// response names none (Bedrock Converse).
	Model string
	// Header holds the response headers; Bedrock reports the usage of a
	// non-stream InvokeModel in them.
	Header http.Header
}

// Result is what a Recorder saw.
type Result struct {
	// Usage is the token usage the response reported.
	Usage usage.Tokens
	// ToolCalls are the response's tool calls, streamed deltas assembled.
	ToolCalls []ToolCall
	// Model is the model the response names (else RecorderOptions.Model).
	Model string
	// StopReason is the provider's own stop or finish reason ("stop",
	// "tool_calls", "end_turn", "STOP", "tool_use"...).
	StopReason string
	// Body is the response body (KeepBody): a JSON body as received, or a
	// stream rebuilt as the equivalent non-stream JSON.
	Body json.RawMessage
	// Raw holds the raw messages (KeepRaw).
	Raw []json.RawMessage
	// Failure is the error the upstream reported in the body: an error
	// body, an SSE error event, a Bedrock exception frame.
	Failure string
	// Complete reports that the answer's last message was seen: a JSON
	// body read whole, or a stream's end marker (OpenAI's [DONE], an
	// Anthropic message_stop, a Responses response.completed, a Gemini
	// finishReason, Bedrock's invocation metrics or Converse metadata) or
	// an error event. A client that hangs up after it is not an aborted
	// request.
	Complete bool
	// Err is the first problem the recorder met (ErrMalformedResponse,
	// ErrRecordTooLarge); what it did read is still reported.
	Err error
	// Truncated reports that something the recorder keeps (Body, Raw,
	// tool-call arguments) or needs (the JSON body or a stream message to
	// read usage from) was cut at its size bound or its Allowance.
	Truncated bool
}

// NewRecorder returns the recorder of a format. stream says whether the
// request asked for a stream; the recorder also recognises on its own a
// JSON body (an error answered to a stream request), a JSON array stream
// (Gemini without alt=sse), SSE and AWS event streams. An unknown format
// gets a recorder that only keeps what the options ask for.
func NewRecorder(format string, stream bool, opts RecorderOptions) Recorder {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxRecordBytes
	}
	r := &recorder{stream: stream}
	r.state = recState{opts: opts, budget: opts.MaxBytes}
	st := &r.state
	r.st = st
	if s, err := lookup(format); err == nil {
		r.c = s.newCollector(st)
		r.framing = s.streamFraming()
	} else {
		r.c = nopCollector{}
	}
	r.sse.MaxEventSize = opts.MaxBytes
	return r
}

// recState is shared by a recorder and its collector.
type recState struct {
	opts    RecorderOptions
	failure string
	// complete is set when the answer's last message has been seen.
	complete bool
	err      error
	budget   int // bytes left for accumulated arguments, rebuilt text, raws
	// truncated is set when something was not kept for lack of room.
	truncated bool
}

// fail records the first problem.
func (st *recState) fail(err error) {
	if err != nil && st.err == nil {
		st.err = err
	}
}

// grow takes n bytes from the budget and the allowance; false means the
// caller must stop accumulating. A refusal is final: later, smaller pieces
// are refused too, so what is kept is a prefix, never a patchwork.
func (st *recState) grow(n int) bool {
	if n > st.budget || !st.take(n) {
		st.budget = 0
		st.fail(ErrRecordTooLarge)
		st.truncated = true
		return false
	}
	st.budget -= n
	return true
}

// take asks the allowance, if any, for n bytes.
func (st *recState) take(n int) bool {
	return n <= 0 || st.opts.Allowance == nil || st.opts.Allowance.Take(n)
}

// maxEntries bounds the choices, candidates, content blocks, output items
// and tool calls of one kind a recorder tracks, so that an answer that
// keeps opening new ones (each a few fixed bytes) cannot grow it without
// end either.
const maxEntries = 1024

// full reports whether a collection of n entries may not take another;
// the collector then works on a throwaway entry it does not keep.
func (st *recState) full(n int) bool {
	if n < maxEntries {
		return false
	}
	st.fail(fmt.Errorf("%w: over %d entries", ErrRecordTooLarge, maxEntries))
	st.truncated = true
	return true
}

// malformed records that the response is not what it declares.
func (st *recState) malformed(format string, args ...any) {
	st.fail(fmt.Errorf("%w: "+format, append([]any{ErrMalformedResponse}, args...)...))
}

// keep reports whether a stream's body is to be rebuilt.
func (st *recState) keep() bool { return st.opts.KeepBody }

// setFailure records the upstream's error message.
func (st *recState) setFailure(msg string) {
	if st.failure == "" {
		st.failure = msg
	}
}

// collector turns one format's messages into a Result.
type collector interface {
	// body handles a complete JSON response body.
	body(data []byte) error
	// event handles one stream message: an SSE data payload, an element of
	// a JSON array stream, or a Bedrock event as JSON.
	event(data []byte) error
	// finish fills res; rebuild asks for the stream's equivalent body.
	finish(res *Result, rebuild bool)
}

// framing is how a format frames a streamed response.
type framing int

const (
	framingSSE               framing = iota
	framingEventStreamChunks         // InvokeModelWithResponseStream: {"bytes": base64} chunks
	framingEventStream               // ConverseStream: typed events
)

type mode int

const (
	modeUnknown mode = iota
	modeBody
	modeSSE
	modeArray
	modeEvents
	modeSkip
)

var _ Recorder = (*recorder)(nil)

type recorder struct {
	st      *recState
	state   recState // what st points to, allocated with the recorder
	c       collector
	stream  bool
	framing framing
	mode    mode

	buf []byte // modeBody
	sse sse.Parser
	// arr and es are made by sniff for the rarer framings (Gemini's JSON
	// array, AWS event streams): inline, they would make every open
	// stream's recorder 152 bytes larger.
	arr    *arraySplitter
	es     *eventstream.Decoder
	raw    []json.RawMessage
	done   bool
	res    Result
	events int // stream messages seen
	// framed is the memory held to parse: the framing's partial message
	// or the JSON body (its high-water mark); see hold.
	framed int
}

func (r *recorder) Write(p []byte) (int, error) {
	n := len(p)
	if r.done {
		return n, nil
	}
	if r.mode == modeUnknown {
		p = r.sniff(p)
	}
	switch r.mode {
	case modeBody:
		if !r.growBody(len(p)) {
			r.st.fail(fmt.Errorf("%w: body over %d bytes or over the gateway's memory budget", ErrRecordTooLarge, r.st.opts.MaxBytes))
			r.st.truncated = true
			r.buf, r.mode = nil, modeSkip
			break
		}
		r.buf = append(r.buf, p...)
	case modeSSE:
		r.st.fail(r.sse.Feed(p, r.onSSE))
		r.account(r.sse.Buffered())
	case modeArray:
		r.st.fail(r.arr.feed(p, r.st.opts.MaxBytes, r.onMessage))
		r.account(cap(r.arr.elem))
	case modeEvents:
		if err := r.es.Feed(p, r.onFrame); err != nil {
			r.st.malformed("%v", err)
		}
		r.account(r.es.Buffered())
	}
	return n, nil
}

// growBody makes room for n more bytes of a JSON body within MaxBytes and
// the allowance, which is charged for the buffer's capacity.
func (r *recorder) growBody(n int) bool {
	need := len(r.buf) + n
	if need > r.st.opts.MaxBytes {
		return false
	}
	if need <= cap(r.buf) {
		return true
	}
	want := min(max(need, 2*cap(r.buf)), r.st.opts.MaxBytes)
	if !r.hold(want) {
		if want == need || !r.hold(need) {
			return false
		}
		want = need
	}
	grown := make([]byte, len(r.buf), want)
	copy(grown, r.buf)
	r.buf = grown
	return true
}

// freeParse is what a recorder may hold to parse an answer (the partial
// stream message, or the JSON body) without asking its allowance: enough
// for the messages of ordinary answers, so that usage is counted even
// when a flood of large answers has spent the gateway's budget. It is a
// fixed amount per stream, like the proxy's copy buffer.
const freeParse = 256 << 10

// hold grows the memory held for parsing to held bytes (a high-water
// mark), charging the allowance for what exceeds freeParse.
func (r *recorder) hold(held int) bool {
	if held <= r.framed {
		return true
	}
	if !r.st.take(max(0, held-freeParse) - max(0, r.framed-freeParse)) {
		return false
	}
	r.framed = held
	return true
}

// account charges the allowance for the framing's partial message when it
// grows past what was charged before. A refusal stops the recorder: the
// stream goes on to the client, unrecorded from here.
func (r *recorder) account(held int) {
	if r.hold(held) {
		return
	}
	r.st.fail(fmt.Errorf("%w: stream message over the gateway's memory budget", ErrRecordTooLarge))
	r.st.truncated = true
	r.sse, r.arr, r.es = sse.Parser{}, nil, nil
	r.mode = modeSkip
}

// sniff decides the framing from the first non-blank byte and returns the
// bytes from there on.
func (r *recorder) sniff(p []byte) []byte {
	i := 0
	for i < len(p) && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n') {
		i++
	}
	if i == len(p) {
		return nil
	}
	switch {
	case p[i] == '{':
		r.mode = modeBody
	case p[i] == '[' && r.stream:
		r.mode = modeArray
		r.arr = &arraySplitter{}
	case p[i] == '[' || !r.stream:
		// Also what is neither: an HTML error page is reported as the
		// body that is not JSON it is.
		r.mode = modeBody
	case r.framing == framingSSE:
		r.mode = modeSSE
	default:
		r.mode = modeEvents
		r.es = &eventstream.Decoder{MaxMessageSize: r.st.opts.MaxBytes}
		return p // binary frames: nothing to skip
	}
	return p[i:]
}

func (r *recorder) onSSE(ev sse.Event) {
	if !ev.HasData {
		return
	}
	if string(ev.Data) == "[DONE]" {
		r.st.complete = true
		return
	}
	r.onMessage(ev.Data)
}

// onMessage handles one JSON stream message.
func (r *recorder) onMessage(data []byte) {
	r.events++
	if err := r.c.event(data); err != nil {
		r.st.malformed("stream message: %v", err)
		return
	}
	r.keepRaw(data)
}

func (r *recorder) onFrame(m eventstream.Message) {
	switch eventstream.Header(m, eventstream.HeaderMessageType) {
	case eventstream.MessageTypeException:
		typ := eventstream.Header(m, eventstream.HeaderExceptionType)
		r.keepRaw(wrapEvent(typ, m.Payload))
		r.st.setFailure(typ + ": " + errorMessage(m.Payload))
		r.st.complete = true
		return
	case eventstream.MessageTypeError:
		r.st.complete = true
		r.st.setFailure(eventstream.Header(m, eventstream.HeaderErrorCode) + ": " +
			eventstream.Header(m, eventstream.HeaderErrorMessage))
		return
	}
	typ := eventstream.Header(m, eventstream.HeaderEventType)
	if r.framing == framingEventStreamChunks {
		if typ != "chunk" {
			return
		}
		inner, err := chunkBytes(m.Payload)
		if err != nil {
			r.st.malformed("bedrock chunk: %v", err)
			return
		}
		r.onMessage(inner)
		return
	}
	r.onMessage(wrapEvent(typ, m.Payload))
}

// chunkBytes returns the vendor JSON an InvokeModelWithResponseStream chunk
// event carries base64-encoded in its {"bytes": ...} payload.
func chunkBytes(payload []byte) ([]byte, error) {
	var chunk struct {
		Bytes []byte `json:"bytes"`
	}
	if err := json.Unmarshal(payload, &chunk); err != nil {
		return nil, err
	}
	return chunk.Bytes, nil
}

// wrapEvent writes a typed event as {"type": payload}, the union shape the
// AWS SDKs and Bedrock's documentation use.
func wrapEvent(typ string, payload []byte) []byte {
	name, _ := json.Marshal(typ)
	if !json.Valid(payload) {
		payload = []byte("null")
	}
	out := make([]byte, 0, len(name)+len(payload)+3)
	out = append(out, '{')
	out = append(out, name...)
	out = append(out, ':')
	out = append(out, payload...)
	return append(out, '}')
}

// keepRaw keeps a copy of a message that is valid JSON (collectors skip
// decoding messages they have no use for, so validity is checked here).
func (r *recorder) keepRaw(data []byte) {
	if !r.st.opts.KeepRaw || !json.Valid(data) {
		return
	}
	if !r.st.grow(len(data)) {
		return
	}
	r.raw = append(r.raw, append(json.RawMessage(nil), data...))
}

func (r *recorder) Result() Result {
	if r.done {
		return r.res
	}
	r.done = true
	switch r.mode {
	case modeBody:
		switch err := r.c.body(r.buf); {
		case err != nil && !json.Valid(r.buf):
			r.st.malformed("body is not valid JSON: %v", err)
		case err != nil:
			r.st.fail(fmt.Errorf("response body: %w", err))
		default:
			r.keepRaw(r.buf)
			r.st.complete = true
		}
	case modeSSE:
		r.st.fail(r.sse.End(r.onSSE))
		if r.events == 0 && !r.st.complete && r.st.failure == "" {
			r.st.malformed("a stream without SSE data events")
		}
	case modeArray:
		if err := r.arr.end(); err != nil {
			r.st.malformed("%v", err)
		}
	case modeEvents:
		if err := r.es.End(); err != nil {
			r.st.malformed("%v", err)
		}
	}
	res := &r.res
	rebuild := r.st.opts.KeepBody && r.mode != modeBody
	r.c.finish(res, rebuild)
	if rebuild && len(res.Body) > 0 && !r.st.take(len(res.Body)) {
		// The rebuilt body is a second copy of the kept text.
		res.Body = nil
		r.st.fail(fmt.Errorf("%w: rebuilt body", ErrRecordTooLarge))
		r.st.truncated = true
	}
	if r.mode == modeBody && r.st.opts.KeepBody {
		res.Body = r.buf
	}
	if res.Model == "" {
		res.Model = r.st.opts.Model
	}
	res.Raw = r.raw
	res.Failure = r.st.failure
	res.Complete = r.st.complete
	res.Err = r.st.err
	res.Truncated = r.st.truncated
	r.buf = nil
	return *res
}

// nopCollector serves unknown formats.
type nopCollector struct{}

func (nopCollector) body([]byte) error    { return nil }
func (nopCollector) event([]byte) error   { return nil }
func (nopCollector) finish(*Result, bool) {}

// errorMessage extracts the message of an error body in any format:
// {"error":{"message"}}, {"type":"error","error":{"message"}},
// {"message"} or {"Message"}. It returns "" for other bodies.
func errorMessage(data []byte) string {
	// Gemini's streamGenerateContent without alt=sse answers an error as
	// the one element of a JSON array.
	var list []json.RawMessage
	if json.Unmarshal(data, &list) == nil {
		if len(list) == 0 {
			return ""
		}
		data = list[0]
	}
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Upper   string          `json:"Message"`
	}
	if json.Unmarshal(data, &v) != nil {
		return ""
	}
	if len(v.Error) > 0 && v.Error[0] == '{' {
		var e struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(v.Error, &e) == nil && e.Message != "" {
			return e.Message
		}
	}
	if len(v.Error) > 0 && v.Error[0] == '"' {
		var s string
		if json.Unmarshal(v.Error, &s) == nil {
			return s
		}
	}
	if v.Message != "" {
		return v.Message
	}
	return v.Upper
}
