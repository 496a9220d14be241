package proxy

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzReadBody feeds readBody arbitrary Content-Encoding headers and
// bodies: it never panics, never returns more than the limit, and answers
// every failure with one of its typed errors.
func FuzzReadBody(f *testing.F) {
	plain := []byte(`{"model":"m","messages":[]}`)
	f.Add("", plain)
	f.Add("identity", plain)
	f.Add("gzip", gzipped(f, plain))
	f.Add("deflate", zlibbed(f, plain))
	f.Add("deflate", deflated(f, plain))
	f.Add("zstd", zstded(f, plain))
	f.Add("gzip, zstd", zstded(f, gzipped(f, plain)))
	f.Add("br", plain)
	f.Add("gzip", gzipped(f, bytes.Repeat([]byte("A"), 1<<12)))
	const limit = 1024
	f.Fuzz(func(t *testing.T, encoding string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/v1/messages", bytes.NewReader(body))
		r.Header.Set("Content-Encoding", encoding)
		out, err := readBody(r, limit)
		var encErr *encodingError
		switch {
		case err == nil:
			if len(out) > limit {
				t.Fatalf("%d bytes past the limit", len(out))
			}
		case errors.Is(err, errBodyTooLarge), errors.As(err, &encErr):
		default:
			t.Fatalf("untyped error %v", err)
		}
	})
}
