package translate

import (
	"errors"
	"fmt"
	"time"

	"github.com/sluice-gateway/sluice/apiformat"
)

// ErrUnsupported reports a translation this package cannot make: a pair of
// formats without translators, or a request that says something the target
// format cannot (an *UnsupportedError says what).
var ErrUnsupported = errors.New("translation not supported")

// UnsupportedError names what a translation cannot carry. Its message is
// meant for the client.
type UnsupportedError struct {
	From, To string
	// What names the field or feature.
	What string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("%s cannot be translated from %s to %s", e.What, e.From, e.To)
}

func (e *UnsupportedError) Unwrap() error { return ErrUnsupported }

// translator reads one format into the hub and writes the hub out in it.
// Decoders return an *UnsupportedError (with To empty) for what the hub
// cannot hold; encoders for what the format cannot say.
type translator interface {
	decodeRequest(body []byte) (*Request, error)
	encodeRequest(r *Request) ([]byte, error)
	decodeResponse(body []byte) (*Response, error)
	encodeResponse(r *Response) ([]byte, error)
}

// translators is the table every entry point dispatches through: one
// translator per format.
var translators = map[string]translator{
	apiformat.OpenAIChat:            openAIChat{},
	apiformat.OpenAIResponses:       openAIResponses{},
	apiformat.AnthropicMessages:     anthropicMessages{},
	apiformat.GeminiGenerateContent: gemini{},
	apiformat.BedrockConverse:       bedrockConverse{},
}

// Supported reports whether requests and answers translate from one
// format to the other.
func Supported(from, to string) bool {
	_, a := translators[from]
	_, b := translators[to]
	return a && b && from != to
}

func pair(from, to string) (translator, translator, error) {
	f, ok := translators[from]
	t, ok2 := translators[to]
	if !ok || !ok2 || from == to {
		return nil, nil, fmt.Errorf("%w: %s to %s", ErrUnsupported, from, to)
	}
	return f, t, nil
}

// Options are what a translation takes from its caller.
type Options struct {
	// Now gives the time an answer is stamped with when its source format
	// carries none; nil means time.Now.
	Now func() time.Time
	// StreamUsage ends a stream translated for an OpenAI chat client with
	// the usage chunk its stream_options.include_usage asks for.
	StreamUsage bool
	// GeminiJSONArray writes a stream for a Gemini client as the one JSON
	// array streamGenerateContent answers without ?alt=sse, instead of
	// SSE events.
	GeminiJSONArray bool
	// Model is the model the request named, written in answers whose
	// source format carries none (Bedrock's); "" leaves it empty.
	Model string
}

// RequestBody translates a request body in the client's format from into
// the upstream format to.
func RequestBody(from, to string, body []byte) ([]byte, error) {
	return RequestBodyFor(from, to, body, "", false)
}

// RequestBodyFor is RequestBody for a request whose model or stream flag
// the URL says rather than the body (Gemini's and Bedrock's): model, when
// not "", replaces the body's model, and stream sets the stream flag. The
// caller builds the upstream URL from them when the upstream format keeps
// them there.
func RequestBodyFor(from, to string, body []byte, model string, stream bool) ([]byte, error) {
	f, t, err := pair(from, to)
	if err != nil {
		return nil, err
	}
	r, err := f.decodeRequest(body)
	if err != nil {
		return nil, labelled(err, from, to)
	}
	if model != "" {
		r.Model = model
	}
	r.Stream = r.Stream || stream
	out, err := t.encodeRequest(r)
	return out, labelled(err, from, to)
}

// ResponseBody translates a whole (not streamed) answer in the upstream
// format from into the client's format to.
func ResponseBody(from, to string, body []byte, opts Options) ([]byte, error) {
	f, t, err := pair(from, to)
	if err != nil {
		return nil, err
	}
	r, err := f.decodeResponse(body)
	if err != nil {
		return nil, labelled(err, from, to)
	}
	if r.Model == "" {
		r.Model = opts.Model
	}
	if r.Created == 0 {
		now := time.Now
		if opts.Now != nil {
			now = opts.Now
		}
		r.Created = now().Unix()
	}
	out, err := t.encodeResponse(r)
	return out, labelled(err, from, to)
}

// labelled fills in the formats of an *UnsupportedError.
func labelled(err error, from, to string) error {
	if err == nil {
		return nil
	}
	var ue *UnsupportedError
	if errors.As(err, &ue) {
		ue.From, ue.To = from, to
	}
	return err
}

func unsupported(what string) error { return &UnsupportedError{What: what} }
