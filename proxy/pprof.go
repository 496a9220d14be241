package proxy

import (
	"net/http"
	"net/http/pprof"
	"strings"
)

// pprofPrefix is where the Go profiler is served: to admins through the
// gateway, and on the --metrics-listen listener.
const pprofPrefix = "/debug/pprof/"

// PprofHandler serves net/http/pprof under /debug/pprof/. Profiles show
// the process's memory, which may hold keys and prompts: serve it only to
// admins or on a loopback listener.
func PprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(pprofPrefix, pprof.Index)
	mux.HandleFunc(pprofPrefix+"cmdline", pprof.Cmdline)
	mux.HandleFunc(pprofPrefix+"profile", pprof.Profile)
	mux.HandleFunc(pprofPrefix+"symbol", pprof.Symbol)
	mux.HandleFunc(pprofPrefix+"trace", pprof.Trace)
	return mux
}

func isPprofPath(path string) bool {
	return path == strings.TrimSuffix(pprofPrefix, "/") || strings.HasPrefix(path, pprofPrefix)
}
