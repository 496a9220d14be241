package h2c

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// firstConn says how the server treats the first connection's first
// stream: every later connection is served by a real h2c server.
type firstConn int

const (
	goAwayBefore firstConn = iota // a graceful GOAWAY naming no stream: not processed
	refuse                        // RST_STREAM REFUSED_STREAM, then a GOAWAY
	goAwayAfter                   // a GOAWAY naming the stream, then the connection ends: maybe processed
)

// TestTransportRetriesUnprocessed: a request the server says it did not
// process (a graceful GOAWAY that leaves its stream out, a refused
// stream) is sent again on a new connection, its body whole, and the
// client sees only the answer; a request the server may have processed,
// or whose body cannot be sent again, is not, and the client sees the
// error.
func TestTransportRetriesUnprocessed(t *testing.T) {
	tests := []struct {
		name       string
		first      firstConn
		noGetBody  bool
		wantServed int64 // requests the real server answered
		wantErr    string
	}{
		{name: "graceful GOAWAY before the stream", first: goAwayBefore, wantServed: 1},
		{name: "refused stream", first: refuse, wantServed: 1},
		{name: "GOAWAY after the stream", first: goAwayAfter, wantServed: 0, wantErr: "GOAWAY"},
		{name: "body not to be had again", first: goAwayBefore, noGetBody: true, wantServed: 0,
			wantErr: "graceful shutdown GOAWAY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var served atomic.Int64
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				served.Add(1)
				io.Copy(w, r.Body) // the body as received
			})}
			srv.Protocols = new(http.Protocols)
			srv.Protocols.SetUnencryptedHTTP2(true)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			later := &connListener{conns: make(chan net.Conn), done: make(chan struct{}), addr: ln.Addr()}
			go func() {
				first := true
				for {
					c, err := ln.Accept()
					if err != nil {
						close(later.done)
						return
					}
					if first {
						first = false
						go serveFirst(t, c, tt.first)
						continue
					}
					later.conns <- c
				}
			}()
			go srv.Serve(later)
			defer srv.Close()
			defer ln.Close()

			tr := New(&http.Transport{})
			defer tr.CloseIdleConnections()
			const body = `{"model":"gpt-5","stream":true}`
			req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+ln.Addr().String()+"/v1/chat/completions", strings.NewReader(body))
			if tt.noGetBody {
				req.GetBody = nil
			}
			resp, err := tr.RoundTrip(req)
			if tt.wantErr != "" {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("answered %s, want an error with %q", resp.Status, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %q, want one with %q", err, tt.wantErr)
				}
			} else {
				if err != nil {
					t.Fatalf("not sent again: %v", err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || string(got) != body {
					t.Fatalf("answered %s %q, want 200 with the request's body %q", resp.Status, got, body)
				}
			}
			if n := served.Load(); n != tt.wantServed {
				t.Errorf("the server answered %d requests, want %d", n, tt.wantServed)
			}
		})
	}
}

// serveFirst speaks HTTP/2 on c by hand until the first stream opens,
// then answers it as first says and ends the connection.
func serveFirst(t *testing.T, c net.Conn, first firstConn) {
	defer c.Close()
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(c, preface); err != nil || !bytes.Equal(preface, []byte(http2.ClientPreface)) {
		t.Errorf("no client preface: %v", err)
		return
	}
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(); err != nil {
		return
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
			continue
		case *http2.HeadersFrame:
			switch first {
			case goAwayBefore:
				fr.WriteGoAway(0, http2.ErrCodeNo, nil)
			case refuse:
				fr.WriteRSTStream(f.StreamID, http2.ErrCodeRefusedStream)
				fr.WriteGoAway(f.StreamID, http2.ErrCodeNo, nil)
			case goAwayAfter:
				fr.WriteGoAway(f.StreamID, http2.ErrCodeNo, nil)
			}
			// End the connection with a FIN, then read what the
			// client still sends, so that closing does not reset it
			// before the client reads the frames above.
			c.(*net.TCPConn).CloseWrite()
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			io.Copy(io.Discard, c)
			return
		}
	}
}

// connListener is a net.Listener of the connections handed to it.
type connListener struct {
	conns chan net.Conn
	done  chan struct{}
	addr  net.Addr
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error   { return nil }
func (l *connListener) Addr() net.Addr { return l.addr }

// TestUnprocessedErrors pins the error texts unprocessed tells apart,
// those net/http's HTTP/2 client gives and a few it must not match.
func TestUnprocessedErrors(t *testing.T) {
	tests := []struct {
		err  string
		want bool
	}{
		{"http2: Transport received Server's graceful shutdown GOAWAY", true},
		{"http2: client conn not usable", true},
		{"stream error: stream ID 3; REFUSED_STREAM; received from peer", true},
		{"stream error: stream ID 3; REFUSED_STREAM", true},
		{"stream error: stream ID 3; CANCEL; received from peer", false},
		{"stream error: stream ID 3; REFUSED_STREAMING", false},
		{`http2: server sent GOAWAY and closed the connection; LastStreamID=1, ErrCode=NO_ERROR, debug=""`, false},
		{"http2: client conn is closed", false},
		{"unexpected EOF", false},
	}
	for _, tt := range tests {
		if got := unprocessed(errors.New(tt.err)); got != tt.want {
			t.Errorf("unprocessed(%q) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
