package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

// DefaultMaxBodyBytes bounds a request body unless Options says otherwise.
// Prompts with images and long contexts run to megabytes; 32 MiB leaves room
// while keeping one request from exhausting memory.
const DefaultMaxBodyBytes = 32 << 20

// errBodyTooLarge reports a request body over the configured limit, as
// sent or once decoded.
var errBodyTooLarge = errors.New("request body too large")

// maxEncodings bounds how many stacked Content-Encodings a body may carry.
const maxEncodings = 3

// supportedEncodings names, for error messages, the request
// Content-Encodings sluice decodes.
const supportedEncodings = "gzip, deflate or zstd"

// encodingError is a Content-Encoding sluice cannot decode: unknown
// (answered 415) or not matching the body (400). Its message is meant for
// the client.
type encodingError struct {
	encoding    string
	unsupported bool
	err         error
}

func (e *encodingError) Error() string {
	if e.unsupported {
		return fmt.Sprintf("request Content-Encoding %q is not supported; send the body uncompressed or as %s", e.encoding, supportedEncodings)
	}
	return fmt.Sprintf("request body is labelled Content-Encoding %s but is not valid %s data: %v", e.encoding, e.encoding, e.err)
}

// status is the HTTP status to answer the error with.
func (e *encodingError) status() int {
	if e.unsupported {
		return http.StatusUnsupportedMediaType
	}
	return http.StatusBadRequest
}

// readBody buffers the request body up to limit bytes, so the model can be
// read from it and the same bytes replayed upstream. A body with a
// Content-Encoding is decoded first, layer by layer, and the limit holds
// for the decoded bytes as well, so a small compressed body cannot expand
// past it; policy inspects, and the upstream receives, the decoded body.
// A read error is returned as is, never mistaken for the end of the body.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	encodings, err := contentEncodings(r.Header)
	if err != nil {
		return nil, err
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > limit {
		return nil, errBodyTooLarge
	}
	body, err := readLimited(r.Body, r.ContentLength, limit)
	if err != nil {
		return nil, err
	}
	// Encodings are listed in the order they were applied.
	for i := len(encodings) - 1; i >= 0; i-- {
		if body, err = decodeBody(encodings[i], body, limit); err != nil {
			return nil, err
		}
	}
	return body, nil
}

// readLimited reads r to its end, failing with errBodyTooLarge past limit
// bytes. size is the length announced (-1 when unknown): the buffer is
// made that large at once, with a byte to spare for the read that finds
// the end, instead of growing from 512 bytes.
func readLimited(r io.Reader, size, limit int64) ([]byte, error) {
	if size < 0 || size > limit {
		size = 512
	}
	body := make([]byte, 0, size+1)
	for {
		if len(body) == cap(body) {
			body = append(body, 0)[:len(body)]
		}
		n, err := r.Read(body[len(body):int(min(int64(cap(body)), limit+1))])
		body = body[:len(body)+n]
		if int64(len(body)) > limit {
			return nil, errBodyTooLarge
		}
		if err == io.EOF {
			return body, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// DefaultBodyReadTimeout bounds the arrival of a whole request body
// unless Options says otherwise.
const DefaultBodyReadTimeout = 60 * time.Second

// errBodyTimeout reports a request body that did not arrive in time.
var errBodyTimeout = errors.New("request body not received in time")

// setBodyDeadline gives the whole request body until timeout to arrive:
// one deadline for all of it, not one per read, so a client that trickles
// a byte now and then (a slowloris) is cut as surely as one that stalls.
// It reports whether it set one; liftBodyDeadline then lifts it once the
// body is read, so the answer, however long it streams, is never cut by
// it. Where the connection cannot take a deadline the body is read
// without one.
func setBodyDeadline(w http.ResponseWriter, timeout time.Duration) bool {
	return timeout > 0 && http.NewResponseController(w).SetReadDeadline(time.Now().Add(timeout)) == nil
}

// liftBodyDeadline lifts the deadline setBodyDeadline set.
func liftBodyDeadline(w http.ResponseWriter) {
	http.NewResponseController(w).SetReadDeadline(time.Time{})
}

// isBodyTimeout reports whether err is a body read cut by bodyDeadline.
func isBodyTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// contentEncodings returns the request's Content-Encodings in the order
// they were applied, without identity, after checking that sluice decodes
// each of them.
func contentEncodings(h http.Header) ([]string, error) {
	var out []string
	for _, line := range h.Values("Content-Encoding") {
		for _, e := range strings.Split(line, ",") {
			e = strings.ToLower(strings.TrimSpace(e))
			switch e {
			case "", "identity":
				continue
			case "x-gzip":
				e = "gzip"
			case "gzip", "deflate", "zstd":
			default:
				return nil, &encodingError{encoding: e, unsupported: true}
			}
			out = append(out, e)
		}
	}
	if len(out) > maxEncodings {
		return nil, &encodingError{encoding: strings.Join(out, ", "), unsupported: true}
	}
	return out, nil
}

// decodeBody undoes one Content-Encoding, reading at most limit decoded
// bytes.
func decodeBody(encoding string, body []byte, limit int64) ([]byte, error) {
	var dec io.Reader
	var err error
	switch encoding {
	case "gzip":
		var zr *gzip.Reader
		if zr, err = gzip.NewReader(bytes.NewReader(body)); err == nil {
			defer zr.Close()
			dec = zr
		}
	case "deflate":
		// HTTP's deflate is zlib-wrapped (RFC 9110); some clients send raw
		// DEFLATE, which a zlib header check tells apart.
		var zr io.ReadCloser
		if zr, err = zlib.NewReader(bytes.NewReader(body)); err == nil {
			defer zr.Close()
			dec = zr
		} else {
			fr := flate.NewReader(bytes.NewReader(body))
			defer fr.Close()
			dec, err = fr, nil
		}
	case "zstd":
		var zr *zstd.Decoder
		zr, err = zstd.NewReader(bytes.NewReader(body), zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxMemory(uint64(max(limit, zstd.MinWindowSize))))
		if err == nil {
			defer zr.Close()
			dec = zr
		}
	}
	if err != nil {
		return nil, &encodingError{encoding: encoding, err: err}
	}
	out, err := readLimited(dec, -1, limit)
	switch {
	case errors.Is(err, errBodyTooLarge), errors.Is(err, zstd.ErrDecoderSizeExceeded), errors.Is(err, zstd.ErrWindowSizeExceeded):
		// zstd refuses a frame that declares more than the limit before
		// decoding it.
		return nil, errBodyTooLarge
	case err != nil:
		return nil, &encodingError{encoding: encoding, err: err}
	}
	return out, nil
}
