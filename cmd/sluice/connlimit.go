package main

import (
	"net"
	"net/http"
	"sync"
)

// limitConns bounds the connections hs has open at once, across all of
// lns, to n: at the limit, Accept waits until a connection closes, so
// further clients wait in the kernel's backlog instead of costing memory
// and file descriptors. A slot is taken on Accept and given back when hs
// reports the connection closed or hijacked (its ConnState hook), so the
// connections themselves are not wrapped: a TLS connection stays a
// *tls.Conn, as the server needs for HTTPS and HTTP/2. n <= 0 means no
// limit.
func limitConns(hs *http.Server, lns []net.Listener, n int) []net.Listener {
	if n <= 0 {
		return lns
	}
	sem := make(chan struct{}, n)
	prev := hs.ConnState
	hs.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateClosed || s == http.StateHijacked {
			<-sem
		}
		if prev != nil {
			prev(c, s)
		}
	}
	out := make([]net.Listener, len(lns))
	for i, ln := range lns {
		out[i] = &limitedListener{Listener: ln, sem: sem, done: make(chan struct{})}
	}
	return out
}

// limitedListener is one listener sharing a connection limit.
type limitedListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (l *limitedListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return c, nil
}

func (l *limitedListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}
