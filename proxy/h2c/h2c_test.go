package h2c

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestTransportSharesConnections: streams beyond one connection's limit,
// all open at once, go on as few connections as the server's stream
// limit allows, not one each as net/http's Transport would dial them,
// and every one is answered over HTTP/2.
func TestTransportSharesConnections(t *testing.T) {
	tests := []struct {
		name             string
		limit, streams   int
		maxConns         int
		netHTTPDialsMore bool
	}{
		{name: "one connection's worth", limit: 500, streams: 500, maxConns: 1},
		{name: "four connections' worth", limit: 250, streams: 1000, maxConns: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var inflight atomic.Int64
			all := make(chan struct{})
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.ProtoMajor != 2 {
					http.Error(w, "not HTTP/2", http.StatusBadRequest)
					return
				}
				if inflight.Add(1) == int64(tt.streams) {
					close(all)
				}
				select {
				case <-all:
				case <-ctx.Done():
					http.Error(w, "not all streams were open at once", http.StatusServiceUnavailable)
					return
				}
			})}
			srv.Protocols = new(http.Protocols)
			srv.Protocols.SetUnencryptedHTTP2(true)
			srv.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: tt.limit}
			var conns atomic.Int64
			srv.ConnState = func(_ net.Conn, st http.ConnState) {
				if st == http.StateNew {
					conns.Add(1)
				}
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go srv.Serve(ln)
			defer srv.Close()

			tr := New(&http.Transport{})
			defer tr.CloseIdleConnections()
			var wg sync.WaitGroup
			var ok atomic.Int64
			for range tt.streams {
				wg.Go(func() {
					req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+ln.Addr().String()+"/", nil)
					resp, err := tr.RoundTrip(req)
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
			if n := conns.Load(); n > int64(tt.maxConns) {
				t.Errorf("%d connections for %d streams at %d a connection, want at most %d", n, tt.streams, tt.limit, tt.maxConns)
			}
		})
	}
}

// TestTransportDialFailure: when the host refuses connections, every
// request fails with the dial's error, those that waited for it too.
func TestTransportDialFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // refused from now on
	var dials atomic.Int64
	tr := New(&http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}})
	var wg sync.WaitGroup
	var failed atomic.Int64
	const n = 50
	for range n {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
			if resp, err := tr.RoundTrip(req); err == nil {
				resp.Body.Close()
				return
			}
			failed.Add(1)
		})
	}
	wg.Wait()
	if failed.Load() != n {
		t.Errorf("%d of %d requests failed, want all", failed.Load(), n)
	}
	if d := dials.Load(); d < 1 || d > n {
		t.Errorf("%d dials for %d requests", d, n)
	}
}
