package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSlowBodyTimesOut: a client that sends its body a byte at a time,
// making progress all along (a slowloris), is cut when the body has not
// arrived by the deadline, answered 408 in its API's error format, and
// recorded.
func TestSlowBodyTimesOut(t *testing.T) {
	gw := newGateway(t, pipelineConfig, "alice@example.com", func(o *Options) { o.BodyReadTimeout = 300 * time.Millisecond })
	conn, err := net.Dial("tcp", gw.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: ai\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for range 100 {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := io.WriteString(conn, " "); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a slow body: %v", err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if elapsed := time.Since(start); resp.StatusCode != http.StatusRequestTimeout || elapsed > 2*time.Second {
		t.Errorf("answered %d after %v; want 408 soon after 300ms", resp.StatusCode, elapsed)
	}
	if !strings.Contains(string(body), `"error"`) || !strings.Contains(string(body), "did not arrive within 300ms") {
		t.Errorf("body %s; want an OpenAI error saying the body did not arrive in time", body)
	}
	rec := waitRecords(t, gw, 1)[0]
	if rec.Status != http.StatusRequestTimeout || rec.ErrorKind != "timeout" || rec.Error == "" {
		t.Errorf("record: status %d, kind %q, error %q; want 408, timeout", rec.Status, rec.ErrorKind, rec.Error)
	}
}
