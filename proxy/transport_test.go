package proxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// stallingTransport is a round tripper of another kind than
// *http.Transport (as a tailnet transport may be) whose provider never
// answers: it waits until the call is cancelled.
type stallingTransport struct{}

func (stallingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	<-r.Context().Done()
	return nil, r.Context().Err()
}

// stallingDialer is a transport whose dials hang, as a dial to a tailnet
// peer that is offline does, until their context ends.
func stallingDialer() *http.Transport {
	return &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}}
}

// TestProxyOwnsUpstreamTimeouts: the header and connect timeouts hold for
// "tailnet": true providers and for any transport, not only the one the
// proxy builds itself.
func TestProxyOwnsUpstreamTimeouts(t *testing.T) {
	const config = `{
		"providers": {
			"openai": {"baseurl": "UPSTREAM", "apikey": "k", "models": ["gpt-5"]},
			"private": {"baseurl": "http://gpu-box:8000", "tailnet": true, "apikey": "k", "models": ["qwen3"]},
		},
	}`
	tests := []struct {
		name    string
		model   string
		opts    func(*Options)
		message string
	}{
		{"tailnet transport stalls before headers", "qwen3", func(o *Options) {
			o.TailnetTransport, o.HeaderTimeout = stallingTransport{}, 200*time.Millisecond
		}, "no response headers within 200ms"},
		{"any transport stalls before headers", "gpt-5", func(o *Options) {
			o.Transport, o.HeaderTimeout = stallingTransport{}, 200*time.Millisecond
		}, "no response headers within 200ms"},
		{"tailnet dial stalls", "qwen3", func(o *Options) {
			o.TailnetTransport, o.ConnectTimeout = stallingDialer(), 200*time.Millisecond
		}, "could not be connected to within 200ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := newGateway(t, config, "alice@example.com", tt.opts)
			start := time.Now()
			resp, body := post(t, gw.URL+"/v1/chat/completions", nil, `{"model":"`+tt.model+`","messages":[]}`)
			if elapsed := time.Since(start); resp.StatusCode != http.StatusGatewayTimeout || elapsed > 3*time.Second {
				t.Errorf("got %d after %v; want 504 soon after 200ms", resp.StatusCode, elapsed)
			}
			if !strings.Contains(body, tt.message) {
				t.Errorf("body %s; want it to say %q", body, tt.message)
			}
			if rec := waitRecords(t, gw, 1)[0]; rec.Status != http.StatusGatewayTimeout || rec.ErrorKind != "timeout" {
				t.Errorf("record: status %d, kind %q; want 504, timeout", rec.Status, rec.ErrorKind)
			}
		})
	}
}

// TestProviderIdleConnsKept: after a burst of requests open at once to
// one provider ends, the transport to providers keeps at most
// maxIdleConnsPerProvider of its connections (each holds memory while
// idle), and the next requests take kept ones instead of dialling.
func TestProviderIdleConnsKept(t *testing.T) {
	tests := []struct {
		name      string
		burst     int
		wantKept  int
		nextBurst int // requests at once after the first burst: none dials up to wantKept
	}{
		{"one request", 1, 1, 1},
		{"a batch the size of the limit", maxIdleConnsPerProvider, maxIdleConnsPerProvider, maxIdleConnsPerProvider},
		{"a burst past the limit", 100, maxIdleConnsPerProvider, maxIdleConnsPerProvider},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			open, dialled := 0, 0
			var arrived sync.WaitGroup
			release := make(chan struct{})
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Hold") != "" {
					arrived.Done()
					<-release
				}
				io.WriteString(w, "ok")
			}))
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				mu.Lock()
				defer mu.Unlock()
				switch s {
				case http.StateNew:
					open++
					dialled++
				case http.StateClosed, http.StateHijacked:
					open--
				}
			}
			srv.Start()
			defer srv.Close()
			tr := newTransport(10 * time.Second)
			defer tr.CloseIdleConnections()
			burst := func(n int, hold bool) {
				var wg sync.WaitGroup
				errs := make(chan error, n)
				for range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("{}"))
						if hold {
							req.Header.Set("Hold", "1")
						}
						resp, err := tr.RoundTrip(req)
						if err != nil {
							errs <- err
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Fatal(err)
				}
			}
			arrived.Add(tt.burst)
			go func() { arrived.Wait(); close(release) }()
			burst(tt.burst, true) // all open at once, then all end
			counts := func() (int, int) {
				mu.Lock()
				defer mu.Unlock()
				return open, dialled
			}
			// The transport closes what it does not keep as each
			// answer ends; the server sees the close a moment later.
			deadline := time.Now().Add(5 * time.Second)
			for o, _ := counts(); o != tt.wantKept; o, _ = counts() {
				if time.Now().After(deadline) {
					t.Fatalf("%d connections open to the provider after a burst of %d, want %d kept", o, tt.burst, tt.wantKept)
				}
				time.Sleep(5 * time.Millisecond)
			}
			_, before := counts()
			burst(tt.nextBurst, false)
			if _, after := counts(); after != before {
				t.Errorf("%d requests after the burst dialled %d new connections; want them on the %d kept", tt.nextBurst, after-before, tt.wantKept)
			}
		})
	}
}
