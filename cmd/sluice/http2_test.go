package main

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestHTTP2ManyStreams: a client speaking cleartext HTTP/2 that keeps
// its streams on one connection (as the AWS SDKs and Go clients do)
// gets as many concurrent requests there as --http2-max-streams allows,
// far beyond net/http's default of 250; under the default limit a
// client that may open connections needs more than one.
func TestHTTP2ManyStreams(t *testing.T) {
	tests := []struct {
		name      string
		limit     int
		strict    bool // the client never opens a second connection
		streams   int
		wantConns func(int) bool
		want      string
	}{
		{name: "the default limit on one connection", limit: defaultHTTP2Streams, strict: true, streams: 600,
			wantConns: func(n int) bool { return n == 1 }, want: "1"},
		{name: "a raised limit on one connection", limit: 2000, strict: true, streams: 1500,
			wantConns: func(n int) bool { return n == 1 }, want: "1"},
		{name: "net/http's 250 needs several", limit: 250, streams: 600,
			wantConns: func(n int) bool { return n >= 3 }, want: "3 or more"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Every handler waits until all the streams are open at once,
			// so the count proves they were concurrent.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var inflight atomic.Int64
			// The connections that carried the streams, by the client's
			// address. Not a count of accepted connections: net/http's
			// client may dial a spare connection while it pools the one
			// it has, then close it unused (the server still sees it).
			var remotes sync.Map
			all := make(chan struct{})
			hs := newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.ProtoMajor != 2 {
					http.Error(w, "not HTTP/2", http.StatusBadRequest)
					return
				}
				if r.URL.Path == "/warm" {
					return
				}
				remotes.Store(r.RemoteAddr, true)
				if inflight.Add(1) == int64(tt.streams) {
					close(all)
				}
				select {
				case <-all:
				case <-ctx.Done():
					http.Error(w, "not all streams were open at once", http.StatusServiceUnavailable)
					return
				}
				w.Write([]byte("ok"))
			}), time.Minute, tt.limit)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go hs.Serve(ln)
			defer hs.Close()

			tr := &http.Transport{Protocols: new(http.Protocols), HTTP2: &http.HTTP2Config{StrictMaxConcurrentRequests: tt.strict}}
			tr.Protocols.SetUnencryptedHTTP2(true)
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			// One request first: requests that find no connection yet
			// each dial their own, whatever the limit.
			if resp, err := client.Get("http://" + ln.Addr().String() + "/warm"); err != nil {
				t.Fatal(err)
			} else {
				resp.Body.Close()
			}
			var wg sync.WaitGroup
			var ok atomic.Int64
			for range tt.streams {
				wg.Go(func() {
					req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+ln.Addr().String()+"/", nil)
					resp, err := client.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						ok.Add(1)
					}
				})
			}
			wg.Wait()
			if got := ok.Load(); got != int64(tt.streams) {
				t.Errorf("%d of %d streams answered while all were open", got, tt.streams)
			}
			n := 0
			remotes.Range(func(any, any) bool { n++; return true })
			if !tt.wantConns(n) {
				t.Errorf("streams came on %d connections, want %s", n, tt.want)
			}
		})
	}
}

// TestOpenFilesLimit: the Go runtime has raised the soft open-files limit
// to the hard one, so sluice can hold as many HTTP/1.1 streams as the
// system lets it without raising it itself.
func TestOpenFilesLimit(t *testing.T) {
	soft, hard, ok := openFilesLimit()
	if !ok {
		t.Skip("no RLIMIT_NOFILE here")
	}
	if soft != hard {
		t.Errorf("open files: soft limit %d, hard %d; want the soft limit raised to the hard one", soft, hard)
	}
}

// TestOpenFilesWarning: the startup warning appears only when the limit
// cannot hold --max-conns streams.
func TestOpenFilesWarning(t *testing.T) {
	tests := []struct {
		name     string
		limit    uint64
		maxConns int
		warn     bool
	}{
		{name: "ample", limit: 1 << 20, maxConns: 4096},
		{name: "the classic 1024", limit: 1024, maxConns: 4096, warn: true},
		{name: "just enough", limit: 2*4096 + 256, maxConns: 4096},
		{name: "no connection limit", limit: 1024, maxConns: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := openFilesWarning(tt.limit, tt.maxConns); (got != "") != tt.warn {
				t.Errorf("openFilesWarning(%d, %d) = %q, want a warning: %v", tt.limit, tt.maxConns, got, tt.warn)
			}
		})
	}
}
