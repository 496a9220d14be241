package proxy

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"time"
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

// DefaultBodyReadTimeout bounds the arrival of a whole request body
// unless Options says otherwise.
const DefaultBodyReadTimeout = 60 * time.Second

// errBodyTimeout reports a request body that did not arrive in time.
var errBodyTimeout = errors.New("request body not received in time")

// bodyDeadline gives the whole request body until timeout to arrive: one
// deadline for all of it, not one per read, so a client that trickles a
// byte now and then (a slowloris) is cut as surely as one that stalls.
// The returned function lifts the deadline once the body is read, so the
// answer, however long it streams, is never cut by it. Where the
// connection cannot take a deadline the body is read without one.
func bodyDeadline(w http.ResponseWriter, timeout time.Duration) (lift func()) {
	rc := http.NewResponseController(w)
	if timeout <= 0 || rc.SetReadDeadline(time.Now().Add(timeout)) != nil {
		return func() {}
	}
	return func() { rc.SetReadDeadline(time.Time{}) }
}

// isBodyTimeout reports whether err is a body read cut by bodyDeadline.
func isBodyTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
