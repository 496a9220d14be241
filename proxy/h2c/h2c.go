// Package h2c pools cleartext HTTP/2 (prior knowledge) connections to a
// host, so that many concurrent requests share few connections.
//
// net/http's Transport speaks h2c too, but when every connection it has
// is at the server's stream limit, each request that finds them full
// dials a connection of its own: a burst of ten thousand streams beyond
// the limit opens thousands of connections, one per stream, which is
// what HTTP/2 was meant to avoid (and which runs out of file
// descriptors). Transport dials one connection at a time per host
// instead; requests that find every connection full wait for it.
package h2c

import (
	"context"
	"net"
	"net/http"
	"regexp"
	"slices"
	"sync"
	"time"
)

// Transport is an http.RoundTripper for http:// URLs that speaks h2c
// with prior knowledge, over connections made by a base transport
// (its dialer, proxy settings and HTTP/2 settings).
type Transport struct {
	base *http.Transport
	idle time.Duration

	mu    sync.Mutex
	hosts map[string]*host
}

// host is the pool of one address.
type host struct {
	conns []*conn
	// dialing is the dial in progress, if any.
	dialing *dial
}

// dial is one connection being dialed; err is set before done closes.
type dial struct {
	done chan struct{}
	err  error
}

type conn struct {
	*http.ClientConn
	idleTimer *time.Timer
	// settled closes once the server's stream limit is likely known:
	// until its first SETTINGS frame arrives a new connection counts on
	// 100 streams, and dialing another for the 101st would be early.
	settled chan struct{}
	settle  sync.Once
}

// settleWait bounds the wait for a new connection's first state change
// (the server's SETTINGS raising its stream limit, or a stream ending):
// a server that keeps the limit of 100 changes nothing to be seen.
const settleWait = time.Second

// New returns a Transport dialing through a copy of base, configured to
// speak only h2c. Connections without requests close after base's
// IdleConnTimeout (90s when zero).
func New(base *http.Transport) *Transport {
	b := base.Clone()
	b.Protocols = new(http.Protocols)
	b.Protocols.SetUnencryptedHTTP2(true)
	idle := b.IdleConnTimeout
	if idle <= 0 {
		idle = 90 * time.Second
	}
	return &Transport{base: b, idle: idle, hosts: map[string]*host{}}
}

// RoundTrip sends req on a pooled connection with a free stream, dialing
// one if there is none, and sends it again, on a connection that takes
// it, when the server says it did not process it (see unprocessed). Other
// schemes go to the base transport.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" {
		return t.base.RoundTrip(req)
	}
	addr := req.URL.Host
	if req.URL.Port() == "" {
		addr = net.JoinHostPort(req.URL.Hostname(), "80")
	}
	for retry := 0; ; retry++ {
		cc, err := t.reserve(req.Context(), addr)
		if err != nil {
			if req.Body != nil {
				req.Body.Close()
			}
			return nil, err
		}
		resp, err := cc.RoundTrip(req)
		if err == nil || retry == maxRetries || !unprocessed(err) {
			return resp, err
		}
		next, ok := rewound(req)
		if !ok {
			return nil, err
		}
		if retry > 0 {
			// Refused again: the server is busy or draining, so the
			// next try waits a moment (after a GOAWAY, it goes on a
			// new connection anyway).
			select {
			case <-time.After(time.Duration(retry) * retryPause):
			case <-req.Context().Done():
				return nil, err
			}
		}
		req = next
	}
}

// maxRetries bounds the retries of a request the server did not process;
// retryPause is the pause before the second and later ones (times the
// retry's number).
const (
	maxRetries = 3
	retryPause = 50 * time.Millisecond
)

// unprocessed reports whether err says the server never processed the
// request, so that sending it again cannot act twice: the stream came
// after the last one a graceful GOAWAY accepted, the connection had
// stopped taking streams between its reservation and the request (a
// GOAWAY or an error in between), or the server refused the stream
// (REFUSED_STREAM, RFC 9113 section 8.7). These are the errors net/http
// itself retries on HTTP/2; its error values are not exported, so they
// are told by their text, which TestTransportRetriesUnprocessed pins.
func unprocessed(err error) bool {
	switch err.Error() {
	case "http2: Transport received Server's graceful shutdown GOAWAY",
		"http2: client conn not usable":
		return true
	}
	return refusedStream.MatchString(err.Error())
}

var refusedStream = regexp.MustCompile(`^stream error: stream ID \d+; REFUSED_STREAM(; |$)`)

// rewound returns req to send again, with its body from the start, or
// false when its body cannot be had again.
func rewound(req *http.Request) (*http.Request, bool) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, true
	}
	if req.GetBody == nil {
		return nil, false
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, false
	}
	next := *req // RoundTrip may not change the caller's request
	next.Body = body
	return &next, true
}

// reserve returns a connection to addr on which a stream is reserved.
func (t *Transport) reserve(ctx context.Context, addr string) (*http.ClientConn, error) {
	for {
		t.mu.Lock()
		h := t.hosts[addr]
		if h == nil {
			h = &host{}
			t.hosts[addr] = h
		}
		h.conns = slices.DeleteFunc(h.conns, func(c *conn) bool {
			if c.Err() != nil {
				c.idleTimer.Stop()
				c.Close()
				return true
			}
			return false
		})
		var unsettled chan struct{}
		for _, c := range h.conns {
			// Whether c was settled is read before its reservation: a
			// SETTINGS frame arriving in between raises the limit that
			// turned the reservation away, and c is then worth another
			// try, not a dial.
			settled := isClosed(c.settled)
			if c.Reserve() == nil {
				t.mu.Unlock()
				return c.ClientConn, nil
			}
			if !settled {
				unsettled = c.settled
			}
		}
		if d := h.dialing; d != nil {
			// Those who waited for a dial share its failure: dialing
			// again one after another, each up to the connect timeout,
			// would make the last wait the longest.
			t.mu.Unlock()
			select {
			case <-d.done:
				if d.err != nil {
					return nil, d.err
				}
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if unsettled != nil {
			t.mu.Unlock()
			select {
			case <-unsettled:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		d := &dial{done: make(chan struct{})}
		h.dialing = d
		t.mu.Unlock()

		// The connection serves others too: a request that leaves does
		// not cut its dial (the base transport's dialer bounds it).
		cc, err := t.base.NewClientConn(context.WithoutCancel(ctx), "http", addr)

		t.mu.Lock()
		h.dialing = nil
		d.err = err
		close(d.done)
		if err != nil {
			t.mu.Unlock()
			return nil, err
		}
		c := &conn{ClientConn: cc, settled: make(chan struct{})}
		settled := func() { c.settle.Do(func() { close(c.settled) }) }
		time.AfterFunc(settleWait, settled)
		c.idleTimer = time.AfterFunc(t.idle, func() { t.closeIfIdle(addr, c) })
		cc.SetStateHook(func(cc *http.ClientConn) {
			settled()
			if cc.InFlight() == 0 {
				c.idleTimer.Reset(t.idle)
			} else {
				c.idleTimer.Stop()
			}
		})
		h.conns = append(h.conns, c)
		t.mu.Unlock()
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// closeIfIdle closes c if it still carries no request.
func (t *Transport) closeIfIdle(addr string, c *conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c.InFlight() > 0 {
		return
	}
	if h := t.hosts[addr]; h != nil {
		h.conns = slices.DeleteFunc(h.conns, func(x *conn) bool { return x == c })
		if len(h.conns) == 0 && h.dialing == nil {
			delete(t.hosts, addr)
		}
	}
	c.Close()
}

// CloseIdleConnections closes the connections that carry no request.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, h := range t.hosts {
		h.conns = slices.DeleteFunc(h.conns, func(c *conn) bool {
			if c.InFlight() == 0 {
				c.idleTimer.Stop()
				c.Close()
				return true
			}
			return false
		})
	}
	t.base.CloseIdleConnections()
}
