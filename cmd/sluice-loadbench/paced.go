package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/sluice-gateway/sluice/proxy"
	"github.com/sluice-gateway/sluice/proxy/h2c"
)

// pacedSetup is one run of pacedStreams.
type pacedSetup struct {
	streams  int
	h2       bool          // h2c from the clients to the proxy and from the proxy to the mock
	events   int           // content events in each stream
	interval time.Duration // between two events, as a model writing tokens
	timeout  time.Duration // the whole run of one target
	// probe reads the memory of the process serving the streams; nil
	// for this one.
	probe memProbe
	// profile, when set, is where a heap profile of that process is
	// written while all streams are open.
	profile string
	// onOpen, when set, is called once all streams are open.
	onOpen func()
}

// protocol names the run's HTTP version for its table's heading.
func (ps pacedSetup) protocol() string {
	if ps.h2 {
		return "HTTP/2 (h2c) both sides"
	}
	return "HTTP/1.1"
}

// lateAfter is when an event counts as late: received this long after
// the mock sent it.
const lateAfter = 100 * time.Millisecond

// h2Streams is the per-connection stream limit of every HTTP/2 server
// in the paced run: sluice serve's default (--http2-max-streams).
const h2Streams = 1000

// pacedStreams runs n concurrent streams whose events the mock spaces in
// time, as a provider's tokens are, directly to the mock, through a bare
// reverse proxy and through sluice, all in this process. Over HTTP/2
// (h2) the clients speak h2c to the proxies, and the proxies h2c to the
// mock, so a connection carries many streams. It prints how many streams
// completed intact, how many events arrived late (lateAfter after the
// mock sent them), the connections each hop used, and the memory per
// stream while all were open.
func pacedStreams(ps pacedSetup, out io.Writer) error {
	ctx := context.Background()
	mock, mockConns, err := serveCounting(pacedProvider(ps.events, ps.interval), ps.h2)
	if err != nil {
		return err
	}
	defer mock.Close()
	u, _ := url.Parse(mock.URL)
	t := transport()
	t.MaxIdleConnsPerHost = ps.streams
	var upstream roundTripCloser = t
	if ps.h2 {
		upstream = h2cClient()
	}
	bare, bareConns, err := serveCounting(&httputil.ReverseProxy{
		Rewrite:       func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		Transport:     upstream,
		FlushInterval: -1,
		ErrorLog:      stdlog.New(io.Discard, "", 0),
	}, ps.h2)
	if err != nil {
		return err
	}
	defer bare.Close()
	var sluiceConns *atomic.Int64
	setup := sluiceSetup{serve: func(h http.Handler) (*loopbackServer, error) {
		ls, conns, err := serveCounting(h, ps.h2)
		sluiceConns = conns
		return ls, err
	}, tune: func(o *proxy.Options) {
		t := transport()
		t.MaxIdleConnsPerHost = ps.streams
		o.Transport = t
	}}
	if ps.h2 {
		setup.providerFields = `, "h2c": true`
	}
	sl, stop, err := startSluiceWith(ctx, mock.URL, setup)
	if err != nil {
		return err
	}
	defer stop()
	defer sl.Close()

	fmt.Fprintf(out, "%d streams, %s, %d events %s apart each; late: more than %s after the mock sent it\n",
		ps.streams, ps.protocol(), ps.events+2, ps.interval, lateAfter)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "target\tcompleted\tpeak open\tlate events\tworst delay\tclient conns\tmock conns\tRSS per stream\theap+stacks per stream\t\n")
	for _, t := range []struct {
		name  string
		url   string
		conns *atomic.Int64
	}{{"direct to mock", mock.URL, nil}, {"bare proxy", bare.URL, bareConns}, {"sluice", sl.URL, sluiceConns}} {
		mockBefore := mockConns.Load()
		var clientBefore int64
		if t.conns != nil {
			clientBefore = t.conns.Load()
		}
		r, err := runPaced(ctx, t.url, ps)
		if err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		clientConns := mockConns.Load() - mockBefore
		mockCol := "–"
		if t.conns != nil {
			clientConns, mockCol = t.conns.Load()-clientBefore, strconv.FormatInt(mockConns.Load()-mockBefore, 10)
		}
		fmt.Fprintf(tw, "%s\t%d/%d\t%d\t%d/%d\t%s\t%d\t%s\t%.1f KB\t%.1f KB\t\n", t.name, r.completed, ps.streams, r.peak,
			r.late, r.events, r.worst.Round(time.Millisecond), clientConns, mockCol,
			float64(r.rssOpen-r.rssBefore)/float64(ps.streams)/1024, float64(r.heapOpen-r.heapBefore)/float64(ps.streams)/1024)
		if r.firstErr != nil {
			fmt.Fprintf(tw, "%s: first error\t%v\t\n", t.name, r.firstErr)
		}
		upstream.CloseIdleConnections()
	}
	return tw.Flush()
}

// pacedResult is what one target's run measured.
type pacedResult struct {
	completed, peak, late, events int64
	worst                         time.Duration
	rssBefore, rssOpen            int64
	heapBefore, heapOpen          int64
	firstErr                      error
}

// runPaced opens ps.streams streams at base at once and reads them to
// their end, timing each event against the send time it carries.
func runPaced(ctx context.Context, base string, ps pacedSetup) (pacedResult, error) {
	ctx, cancel := context.WithTimeout(ctx, ps.timeout)
	defer cancel()
	t := transport()
	t.MaxIdleConnsPerHost = ps.streams
	var tr roundTripCloser = t
	if ps.h2 {
		tr = h2cClient()
	}
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	body := []byte(`{"model":"gpt-5","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	// One request first, so the streams find a connection to share
	// rather than each dialing its own.
	// (Its headers are enough: the connection stays for the others.)
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/chat/completions", bytes.NewReader(body))
	resp, err := client.Do(req)
	if err != nil {
		return pacedResult{}, fmt.Errorf("first stream: %w", err)
	}
	resp.Body.Close()
	probe := ps.probe
	if probe == nil {
		debug.FreeOSMemory()
		probe = selfProbe{}
	}
	var r pacedResult
	if r.heapBefore, r.rssBefore, err = probe.sample(); err != nil {
		return r, err
	}
	var c pacedCounters
	var done sync.WaitGroup
	var errOnce sync.Once
	c.allOpen = make(chan struct{})
	c.want = int64(ps.streams)
	for range ps.streams {
		done.Go(func() {
			if opened, err := pacedStream(ctx, client, base, body, &c); err != nil {
				errOnce.Do(func() { r.firstErr = err })
				if !opened {
					c.failOpen()
				}
				return
			}
			c.completed.Add(1)
		})
	}
	// Memory while every stream is open (or has failed).
	select {
	case <-c.allOpen:
		if ps.onOpen != nil {
			ps.onOpen()
		}
		r.heapOpen, r.rssOpen, err = probe.sample()
		if err == nil && ps.profile != "" {
			err = probe.profile(ps.profile)
		}
	case <-ctx.Done():
	}
	done.Wait()
	if err != nil {
		return r, err
	}
	r.completed, r.peak, r.late, r.events = c.completed.Load(), c.peak.Load(), c.late.Load(), c.events.Load()
	r.worst = time.Duration(c.worst.Load())
	return r, nil
}

// pacedCounters are shared by the streams of one run.
type pacedCounters struct {
	open, peak, completed, late, events, worst atomic.Int64
	// opened counts streams that got their first event or failed;
	// allOpen closes when it reaches want.
	opened  atomic.Int64
	want    int64
	allOpen chan struct{}
}

// failOpen counts a stream that is open, or will never be.
func (c *pacedCounters) failOpen() {
	if c.allOpen != nil && c.opened.Add(1) == c.want {
		close(c.allOpen)
	}
}

// pacedStream sends one streamed request and reads its events, each of
// which carries the time the mock sent it ("t=UNIX_NANOS"). opened says
// whether its first event arrived.
func pacedStream(ctx context.Context, client *http.Client, base string, body []byte, c *pacedCounters) (opened bool, err error) {
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/chat/completions", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return false, fmt.Errorf("status %d: %.200s", resp.StatusCode, b)
	}
	peak := c.open.Add(1)
	defer c.open.Add(-1)
	for p := c.peak.Load(); peak > p && !c.peak.CompareAndSwap(p, peak); p = c.peak.Load() {
	}
	ended := false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Bytes()
		if bytes.Equal(line, []byte("data: [DONE]")) {
			ended = true
			continue
		}
		i := bytes.Index(line, []byte(`"t=`))
		if i < 0 {
			continue
		}
		rest := line[i+3:]
		j := bytes.IndexByte(rest, ' ')
		if j < 0 {
			continue
		}
		sent, err := strconv.ParseInt(string(rest[:j]), 10, 64)
		if err != nil {
			continue
		}
		delay := time.Since(time.Unix(0, sent))
		c.events.Add(1)
		if delay > lateAfter {
			c.late.Add(1)
		}
		for w := c.worst.Load(); int64(delay) > w && !c.worst.CompareAndSwap(w, int64(delay)); w = c.worst.Load() {
		}
		if !opened {
			opened = true
			c.failOpen()
		}
	}
	if err := sc.Err(); err != nil {
		return opened, err
	}
	if !ended {
		return opened, fmt.Errorf("stream ended without [DONE]")
	}
	return opened, nil
}

// pacedProvider streams a chat completion of `events` content chunks,
// `interval` apart, each carrying the time it was sent, then a finish
// chunk, the usage chunk when asked for, and [DONE].
func pacedProvider(events int, interval time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		usage := bytes.Contains(body, []byte(`"include_usage":true`))
		extra := ""
		if usage {
			extra = `,"usage":null`
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		fl.Flush() // headers now, as a provider does
		tick := time.NewTimer(interval)
		defer tick.Stop()
		for i := range events {
			select {
			case <-tick.C:
			case <-r.Context().Done():
				return
			}
			tick.Reset(interval)
			fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-p\",\"object\":\"chat.completion.chunk\",\"created\":1763000000,\"model\":\"gpt-5\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"t=%d tok%d\"},\"finish_reason\":null}]%s}\n\n",
				time.Now().UnixNano(), i, extra)
			fl.Flush()
		}
		fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-p\",\"object\":\"chat.completion.chunk\",\"created\":1763000000,\"model\":\"gpt-5\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]%s}\n\n", extra)
		if usage {
			fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-p\",\"object\":\"chat.completion.chunk\",\"created\":1763000000,\"model\":\"gpt-5\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":%d,\"total_tokens\":%d}}\n\n", events, events+9)
		}
		io.WriteString(w, "data: [DONE]\n\n")
	})
}

// h2cClient is the transport of the clients and the bare proxy over
// HTTP/2: sluice's own h2c pool (package h2c), which opens another
// connection only when those it has are at the server's stream limit.
// With netHTTPH2C it is net/http's Transport instead, which dials a
// connection for each request that finds them full.
func h2cClient() roundTripCloser {
	if netHTTPH2C {
		t := transport()
		t.Protocols = new(http.Protocols)
		t.Protocols.SetUnencryptedHTTP2(true)
		return t
	}
	return h2c.New(transport())
}

// roundTripCloser is a transport whose idle connections can be closed.
type roundTripCloser interface {
	http.RoundTripper
	CloseIdleConnections()
}

// netHTTPH2C makes the paced run's clients and bare proxy use net/http's
// h2c (-nethttp-h2c), to compare.
var netHTTPH2C bool

// serveCounting serves h on a loopback port, HTTP/1.1 and, with h2, h2c
// with h2Streams streams a connection, counting the connections accepted.
func serveCounting(h http.Handler, h2 bool) (*loopbackServer, *atomic.Int64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	var conns atomic.Int64
	srv := newServer(h, h2, &conns)
	go srv.Serve(ln)
	return &loopbackServer{URL: "http://" + ln.Addr().String(), srv: srv}, &conns, nil
}

// newServer is a server of h: HTTP/1.1, and with h2 h2c with h2Streams
// streams a connection; conns, when set, counts the connections accepted.
func newServer(h http.Handler, h2 bool, conns *atomic.Int64) *http.Server {
	srv := &http.Server{Handler: h}
	if conns != nil {
		srv.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				conns.Add(1)
			}
		}
	}
	if h2 {
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetHTTP1(true)
		srv.Protocols.SetUnencryptedHTTP2(true)
		srv.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: h2Streams}
	}
	return srv
}
