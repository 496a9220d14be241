package proxytest

import (
	"fmt"
	"syscall"
	"testing"
)

// RefusingAddr returns a loopback address ("127.0.0.1:PORT") that refuses
// connections for as long as the test runs: a socket is bound to it but
// never listens. Closing a listener instead would free the port, and the
// kernel may hand it to the next listener at once — in a gateway test,
// perhaps the gateway itself, which would then forward to itself.
func RefusingAddr(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}
