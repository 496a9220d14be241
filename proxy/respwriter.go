package proxy

import (
	"net/http"
	"time"
)

// responseRecorder wraps the client's ResponseWriter to learn what the
// client actually received: status, bytes, and when the first byte left.
// Unwrap lets http.ResponseController reach the real writer's Flush.
type responseRecorder struct {
	http.ResponseWriter
	status    int
	bytes     int64
	firstByte time.Time
	wroteBody bool
	// chunked drops Content-Length (Options.DurableLog), so the client
	// sees the answer's end only when the handler returns.
	chunked bool
	// flushHeader sends the header to the client as soon as it is
	// written (a streamed answer's, which is flushed at once anyway).
	// Sent from here, the header's encoding (net/http's deepest frames)
	// runs on a shallower stack than from the first write of the body,
	// which keeps a streaming handler's stack within its first 8 KB.
	flushHeader bool
}

func (w *responseRecorder) WriteHeader(code int) {
	if w.chunked {
		w.Header().Del("Content-Length")
	}
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
	if w.flushHeader && code >= 200 {
		flush(w.ResponseWriter)
	}
}

func (w *responseRecorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		if w.chunked {
			w.Header().Del("Content-Length")
		}
		w.status = http.StatusOK
	}
	if !w.wroteBody && len(p) > 0 {
		w.wroteBody = true
		w.firstByte = time.Now()
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

func (w *responseRecorder) Flush() { flush(w.ResponseWriter) }

// flush flushes w, directly when it can (the common case, without the
// allocation of a ResponseController).
func flush(w http.ResponseWriter) {
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
		return
	}
	http.NewResponseController(w).Flush()
}

func (w *responseRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
