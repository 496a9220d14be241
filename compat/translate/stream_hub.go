package translate

import (
	"fmt"
	"io"
	"time"

	"github.com/sluice-gateway/sluice/apiformat"
	"github.com/sluice-gateway/sluice/usage"
)

// A stream is translated through the hub as through a body: one decoder
// per format reads the upstream's events into the hub's stream of blocks
// ([hubStream]'s methods), one encoder per format writes them as the
// client's events. A block is text, reasoning or one tool call; blocks
// follow each other (tool call arguments of one call never interleave
// with another's), and the stream ends with a stop reason and usage.

// streamDecoder reads one format's stream.
type streamDecoder interface {
	// feed reads the next bytes, calling h for every event they complete.
	feed(h *hubStream, b []byte) error
	// end reads what the stream left at its end.
	end(h *hubStream) error
}

// streamEncoder writes one format's stream into its out buffer.
type streamEncoder interface {
	start(id, model string)
	// open starts a block: kind is PartText, PartReasoning or
	// PartToolCall (with the call's id and name).
	open(kind PartKind, id, name string)
	// delta adds text, reasoning text or tool arguments to the open block.
	delta(s string)
	// signature signs the open reasoning block.
	signature(sig string)
	close()
	finish(stop StopReason, u usage.Tokens)
	fail(msg string)
}

// streamFormat builds a format's stream decoder and encoder.
type streamFormat struct {
	decoder func(opts Options) streamDecoder
	encoder func(o *streamOut, opts Options) streamEncoder
}

var streamFormats = map[string]streamFormat{
	apiformat.OpenAIChat: {
		func(Options) streamDecoder { return &chatDecoder{} },
		func(o *streamOut, opts Options) streamEncoder {
			return &chatEncoder{o: o, usageChunk: opts.StreamUsage, created: now(opts).Unix()}
		},
	},
	apiformat.AnthropicMessages: {
		func(Options) streamDecoder { return &anthDecoder{} },
		func(o *streamOut, _ Options) streamEncoder { return &anthEncoder{o: o} },
	},
	apiformat.OpenAIResponses: {
		func(Options) streamDecoder { return &respDecoder{} },
		func(o *streamOut, opts Options) streamEncoder { return &respEncoder{o: o, created: now(opts).Unix()} },
	},
	apiformat.GeminiGenerateContent: {
		func(Options) streamDecoder { return &gemDecoder{} },
		func(o *streamOut, opts Options) streamEncoder { return &gemEncoder{o: o, array: opts.GeminiJSONArray} },
	},
	apiformat.BedrockConverse: {
		func(opts Options) streamDecoder { return &convDecoder{model: opts.Model} },
		func(o *streamOut, _ Options) streamEncoder { return &convEncoder{o: o} },
	},
}

// hubStream is a stream translated through the hub: it keeps the blocks
// well formed whatever the decoder meets, and ends the stream once.
type hubStream struct {
	streamOut
	dec    streamDecoder
	enc    streamEncoder
	closed bool

	started, done bool
	// kind is the open block's kind, 0 when none; key tells the source's
	// tool calls apart.
	kind  PartKind
	key   int
	calls int
	stop  StopReason
	usage usage.Tokens
}

func newHubStream(from, to string, w io.Writer, opts Options) (*hubStream, bool) {
	f, ok := streamFormats[from]
	t, ok2 := streamFormats[to]
	if !ok || !ok2 || from == to {
		return nil, false
	}
	h := &hubStream{streamOut: streamOut{w: w}}
	h.dec = f.decoder(opts)
	h.enc = t.encoder(&h.streamOut, opts)
	return h, true
}

func (h *hubStream) Write(b []byte) (int, error) {
	if h.err != nil {
		return 0, h.err
	}
	h.reset(len(b))
	if err := h.dec.feed(h, b); err != nil && h.err == nil {
		h.failf("the upstream stream is malformed: " + err.Error())
	}
	if err := h.flush(); err != nil {
		return 0, err
	}
	return len(b), h.err
}

func (h *hubStream) Close() error {
	// Whether or not the stream ended before, its buffer goes back.
	defer h.release()
	if h.closed {
		return h.err
	}
	h.closed = true
	h.out = h.out[:0]
	if h.err == nil && !h.done {
		if err := h.dec.end(h); err != nil && h.err == nil {
			h.failf("the upstream stream is malformed: " + err.Error())
		}
	}
	if h.err == nil && h.started && !h.done {
		h.end()
	}
	if err := h.flush(); err != nil {
		return err
	}
	return h.err
}

// live reports whether events may still be written.
func (h *hubStream) live() bool { return h.err == nil && !h.done }

func (h *hubStream) begin(id, model string) {
	if !h.started && h.live() {
		h.started = true
		h.enc.start(id, model)
	}
}

// ensure opens a block of kind unless one is open.
func (h *hubStream) ensure(kind PartKind) {
	h.begin("", "")
	if h.kind != kind {
		h.closeBlock()
		h.kind = kind
		h.enc.open(kind, "", "")
	}
}

func (h *hubStream) text(s string) {
	if s == "" || !h.live() {
		return
	}
	h.ensure(PartText)
	h.enc.delta(s)
}

func (h *hubStream) reasoning(s string) {
	if s == "" || !h.live() {
		return
	}
	h.ensure(PartReasoning)
	h.enc.delta(s)
}

func (h *hubStream) sign(sig string) {
	if sig == "" || !h.live() {
		return
	}
	h.ensure(PartReasoning)
	h.enc.signature(sig)
}

// tool opens the tool call block key.
func (h *hubStream) tool(key int, id, name string) {
	if !h.live() {
		return
	}
	h.begin("", "")
	h.closeBlock()
	h.kind, h.key = PartToolCall, key
	h.calls++
	h.enc.open(PartToolCall, id, name)
}

// args adds arguments to the tool call block key.
func (h *hubStream) args(key int, s string) {
	if s == "" || !h.live() {
		return
	}
	if h.kind != PartToolCall || h.key != key {
		h.failf(errInterleaved.Error())
		return
	}
	h.enc.delta(s)
}

func (h *hubStream) closeBlock() {
	if h.kind != 0 {
		h.enc.close()
		h.kind = 0
	}
}

func (h *hubStream) addUsage(u usage.Tokens) { h.usage = h.usage.Merge(u) }

func (h *hubStream) setStop(s StopReason) {
	if s != "" {
		h.stop = s
	}
}

// end closes the stream with its stop reason and usage.
func (h *hubStream) end() {
	if !h.live() {
		return
	}
	h.begin("", "")
	h.closeBlock()
	stop := h.stop
	if stop == "" {
		stop = StopEnd
	}
	if stop == StopEnd && h.calls > 0 {
		// Formats that say "stop" after tool calls (Gemini) mean tool use.
		stop = StopToolUse
	}
	h.enc.finish(stop, h.usage)
	h.done = true
}

// failf ends the stream with the client format's error event.
func (h *hubStream) failf(msg string) {
	if !h.live() {
		return
	}
	h.enc.fail(msg)
	h.done = true
	h.err = fmt.Errorf("%w: %s", ErrStream, msg)
}

func now(opts Options) time.Time {
	if opts.Now != nil {
		return opts.Now()
	}
	return time.Now()
}
