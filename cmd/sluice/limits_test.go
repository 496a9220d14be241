package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy"
	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/proxy/tailnet"
	"github.com/sluice-gateway/sluice/store"
)

// serveTest serves h as `sluice serve` does, with the keep-alive timeout
// and connection limit given, on a loopback port.
func serveTest(t *testing.T, h http.Handler, idle time.Duration, maxConns int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := newHTTPServer(h, idle, defaultHTTP2Streams)
	lns := limitConns(hs, []net.Listener{ln}, maxConns)
	go hs.Serve(lns[0])
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String()
}

// get sends one keep-alive GET on conn and reads the answer.
func rawGet(conn net.Conn, r *bufio.Reader) (*http.Response, error) {
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: ai\r\n\r\n"); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(r, nil)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

// TestMaxConns: at the limit, a further client waits, and is served as
// soon as another connection closes.
func TestMaxConns(t *testing.T) {
	addr := serveTest(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), time.Minute, 2)
	a, ra := dial(t, addr)
	b, rb := dial(t, addr)
	for _, c := range []struct {
		conn net.Conn
		r    *bufio.Reader
	}{{a, ra}, {b, rb}} {
		if _, err := rawGet(c.conn, c.r); err != nil {
			t.Fatalf("within the limit: %v", err)
		}
	}
	third, r3 := dial(t, addr)
	third.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if resp, err := rawGet(third, r3); err == nil {
		t.Fatalf("a third connection was served (%d) with a limit of 2", resp.StatusCode)
	}
	// The third request is written and waits; it is answered once a slot
	// is free.
	a.Close()
	third.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(r3, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after a connection closed, the waiting one got %v, %v", resp, err)
	}
}

// TestKeepAliveTimeout: an idle keep-alive connection is closed after
// --keepalive-timeout.
func TestKeepAliveTimeout(t *testing.T) {
	addr := serveTest(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), 200*time.Millisecond, 0)
	c, r := dial(t, addr)
	if _, err := rawGet(c, r); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection read %v; want the server to close it (EOF)", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("idle connection closed after %v; want about 200ms", elapsed)
	}
}

// TestLongStreamOutlivesTimeouts: a healthy stream that runs longer than
// the body-read and keep-alive timeouts completes.
func TestLongStreamOutlivesTimeouts(t *testing.T) {
	const events = 15
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for i := range events {
			fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-5\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%d \"}}]}\n\n", i)
			rc.Flush()
			time.Sleep(60 * time.Millisecond)
		}
		io.WriteString(w, "data: [DONE]\n\n")
	}))
	defer upstream.Close()
	cfg, err := policy.Parse("test.hujson", []byte(`{"providers": {"openai": {"baseurl": "`+upstream.URL+`", "apikey": "k", "models": ["gpt-5"]}}}`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	recs := make(chan store.Record, 1)
	srv, err := proxy.New(context.Background(), cfg, proxy.Options{
		Identity:        identity.Local("dev@example.com"),
		Sink:            sinkFunc(func(r store.Record) bool { recs <- r; return true }),
		BodyReadTimeout: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTest(t, srv, 100*time.Millisecond, 4)
	start := time.Now()
	resp, err := http.Post("http://"+addr+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"gpt-5","stream":true,"messages":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !strings.HasSuffix(string(body), "data: [DONE]\n\n") || !strings.Contains(string(body), fmt.Sprintf(`"%d "`, events-1)) {
		t.Fatalf("stream of %v ended with %v: %q", time.Since(start), err, body)
	}
	if elapsed := time.Since(start); elapsed < 500*time.Millisecond {
		t.Fatalf("the stream took %v, not longer than the timeouts; the test proves nothing", elapsed)
	}
	if rec := <-recs; rec.Status != 200 || rec.Error != "" {
		t.Errorf("record: status %d, error %q", rec.Status, rec.Error)
	}
}

type sinkFunc func(store.Record) bool

func (f sinkFunc) Write(r store.Record) bool { return f(r) }

func (f sinkFunc) Healthy() error { return nil }

// TestMaxConnsKeepsTLS: under the connection limit, an HTTPS listener (as
// with --tls) still serves TLS: the limit does not wrap connections.
func TestMaxConnsKeepsTLS(t *testing.T) {
	addr, certs := serveTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			http.Error(w, "no TLS", http.StatusInternalServerError)
		}
	}), nil, 1)
	client := certs.Client()
	for range 3 { // one slot, given back and taken again
		resp, err := client.Get("https://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d; want the request served over TLS", resp.StatusCode)
		}
		client.CloseIdleConnections()
	}
}

// TestServeHTTP2OverTLS: on a TLS listener that offers HTTP/2 in its
// handshake, as the tailnet node's is with --tls, a client that speaks
// HTTP/2 is served over it, and one that speaks only HTTP/1.1 still is
// over that.
func TestServeHTTP2OverTLS(t *testing.T) {
	addr, certs := serveTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	}), tailnet.TLSProtocols, 0)
	for _, tt := range []struct {
		name  string
		h2    bool
		proto string
	}{
		{"HTTP/2 client", true, "HTTP/2.0"},
		{"HTTP/1.1 client", false, "HTTP/1.1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr := certs.Client().Transport.(*http.Transport).Clone()
			tr.ForceAttemptHTTP2 = tt.h2
			if !tt.h2 {
				tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
			}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr}).Get("https://" + addr + "/")
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(got) != tt.proto {
				t.Errorf("served over %s, want %s", got, tt.proto)
			}
		})
	}
}

// serveTLS serves h with serve's HTTP server on a loopback TLS listener
// that offers protos in its handshake (Go's default when nil), under a
// limit of maxConns connections when it is above zero. It returns the
// address and the test server whose certificate the listener presents,
// whose Client trusts it.
func serveTLS(t *testing.T, h http.Handler, protos []string, maxConns int) (string, *httptest.Server) {
	t.Helper()
	certs := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(certs.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := certs.TLS.Clone()
	if protos != nil {
		cfg.NextProtos = protos
	}
	hs := newHTTPServer(h, time.Minute, defaultHTTP2Streams)
	lns := []net.Listener{tls.NewListener(ln, cfg)}
	if maxConns > 0 {
		lns = limitConns(hs, lns, maxConns)
	}
	go hs.Serve(lns[0])
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String(), certs
}
