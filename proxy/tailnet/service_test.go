package tailnet

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// TestServiceConnectionsCarryTheCaller: a service connection reports the
// caller's address from the node's PROXY header, so WhoIs can identify
// them; a connection without a header, or naming a source outside the
// tailnet, never reaches the server.
func TestServiceConnectionsCarryTheCaller(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := withProxyHeader(raw)
	defer ln.Close()
	type accepted struct {
		remote string
		line   string
		err    error
	}
	got := make(chan accepted, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(2 * time.Second))
				line, err := bufio.NewReader(c).ReadString('\n')
				got <- accepted{remote: c.RemoteAddr().String(), line: line, err: err}
			}()
		}
	}()
	dst := &net.TCPAddr{IP: net.ParseIP("100.100.100.100"), Port: 80}
	tests := []struct {
		name       string
		src        net.Addr // nil: no header
		wantRemote string
	}{
		{"tailnet IPv4 caller", &net.TCPAddr{IP: net.ParseIP("100.101.102.103"), Port: 40000}, "100.101.102.103:40000"},
		{"tailnet IPv6 caller", &net.TCPAddr{IP: net.ParseIP("fd7a:115c:a1e0::7"), Port: 40001}, "[fd7a:115c:a1e0::7]:40001"},
		{"no header", nil, ""},
		{"source outside the tailnet", &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 40002}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", raw.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if tt.src != nil {
				d := dst
				if tt.src.(*net.TCPAddr).IP.To4() == nil {
					d = &net.TCPAddr{IP: net.ParseIP("fd7a:115c:a1e0::1"), Port: 80}
				}
				if _, err := proxyproto.HeaderProxyFromAddrs(2, tt.src, d).WriteTo(c); err != nil {
					t.Fatal(err)
				}
			}
			io.WriteString(c, "GET / HTTP/1.1\r\n")
			a := <-got
			if tt.wantRemote == "" {
				if a.err == nil {
					t.Fatalf("connection accepted from %s reading %q; want it refused", a.remote, a.line)
				}
				return
			}
			if a.err != nil || a.remote != tt.wantRemote || a.line != "GET / HTTP/1.1\r\n" {
				t.Fatalf("accepted %+v; want remote %s and the request line", a, tt.wantRemote)
			}
		})
	}
}
