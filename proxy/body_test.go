package proxy

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/iotest"
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

// TestReadLimited: a body is read whole up to the limit and refused past
// it, whatever length was announced and however it arrives.
func TestReadLimited(t *testing.T) {
	const limit = 1000
	tests := []struct {
		name    string
		n       int   // bytes sent
		size    int64 // announced length, -1 unknown
		tooBig  bool
		oneByte bool // the reader returns a byte at a time
	}{
		{name: "empty", n: 0, size: 0},
		{name: "announced", n: 63, size: 63},
		{name: "unknown length", n: 700, size: -1},
		{name: "at the limit", n: limit, size: limit},
		{name: "at the limit, unknown length", n: limit, size: -1},
		{name: "past the limit, unknown length", n: limit + 1, size: -1, tooBig: true},
		{name: "longer than announced", n: 600, size: 100},
		{name: "shorter than announced", n: 50, size: 100},
		{name: "byte by byte", n: limit, size: -1, oneByte: true},
		{name: "byte by byte, past the limit", n: 3 * limit, size: -1, oneByte: true, tooBig: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := bytes.Repeat([]byte("x"), tt.n)
			var r io.Reader = bytes.NewReader(want)
			if tt.oneByte {
				r = iotest.OneByteReader(r)
			}
			got, err := readLimited(r, tt.size, limit)
			switch {
			case tt.tooBig:
				if !errors.Is(err, errBodyTooLarge) {
					t.Fatalf("err = %v, want errBodyTooLarge", err)
				}
			case err != nil:
				t.Fatal(err)
			case !bytes.Equal(got, want):
				t.Fatalf("read %d bytes, want %d", len(got), len(want))
			}
		})
	}
}
