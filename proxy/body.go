package proxy

import (
	"errors"
	"io"
	"net/http"
)

// DefaultMaxBodyBytes bounds a request body unless Options says otherwise.
// Prompts with images and long contexts run to megabytes; 32 MiB leaves room
// while keeping one request from exhausting memory.
const DefaultMaxBodyBytes = 32 << 20

// errBodyTooLarge reports a request body over the configured limit.
var errBodyTooLarge = errors.New("request body too large")

// readBody buffers the request body up to limit bytes, so the model can be
// read from it and the same bytes replayed upstream. A read error is returned
// as is, never mistaken for the end of the body.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > limit {
		return nil, errBodyTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, errBodyTooLarge
	}
	return body, nil
}
