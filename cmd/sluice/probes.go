package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/sluice-gateway/sluice/proxy"
)

// serveProbes answers the health probes on addr, a listener of their own
// that answers nothing else: in tailnet mode the gateway's listeners are
// on the tailnet, where an orchestrator's prober is not.
func serveProbes(addr string, srv *proxy.Server, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--health-listen: %w", err)
	}
	hs := &http.Server{Handler: srv.HealthHandler(), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	log.Info("health probes", "address", "http://"+ln.Addr().String(), "paths", "/healthz /readyz")
	return func() { hs.Close() }, nil
}
