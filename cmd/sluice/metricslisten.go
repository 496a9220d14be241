package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/sluice-gateway/sluice/proxy"
)

// checkMetricsListen accepts only loopback addresses for --metrics-listen:
// the listener answers without asking who calls, so only processes on
// this machine (a local scraper or agent) may reach it.
func checkMetricsListen(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--metrics-listen %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("--metrics-listen %q: not a loopback address; it serves metrics without authorization, "+
			"so it listens on 127.0.0.1 or [::1] only (read /metrics through the gateway, with read_metrics, from elsewhere)", addr)
	}
	return nil
}

// metricsServer serves metrics on the local --metrics-listen address. It
// stops when the returned function is called.
func metricsServer(addr string, metrics http.Handler, log *slog.Logger) (string, func(), error) {
	if err := checkMetricsListen(addr); err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	// "localhost" could resolve elsewhere: check what was bound.
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		ln.Close()
		return "", nil, fmt.Errorf("--metrics-listen %q bound %s, not a loopback address", addr, ln.Addr())
	}
	hs := &http.Server{Handler: metricsMux(metrics), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && err != http.ErrServerClosed {
			log.Error("metrics listener stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return ln.Addr().String(), func() { hs.Close() }, nil
}

// metricsMux is what the metrics listener serves: the metrics and the Go
// profiler.
func metricsMux(metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.Handle("/debug/pprof/", proxy.PprofHandler())
	return mux
}
