package proxy

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/proxy/identity"
)

// TestPprofAdminOnly: the Go profiler answers admins through the gateway
// and refuses everyone else, whatever profile they ask for.
func TestPprofAdminOnly(t *testing.T) {
	gw := newMetricsGateway(t)
	for _, tc := range []struct {
		login, path string
		status      int
		want        string
	}{
		{"ops@example.com", "/debug/pprof/", 200, "goroutine"},
		{"ops@example.com", "/debug/pprof/goroutine?debug=1", 200, "goroutine profile"},
		{"alice@example.com", "/debug/pprof/", 403, "may not read /debug/pprof/"},
		{"alice@example.com", "/debug/pprof/heap", 403, "may not read /debug/pprof/"},
		{"alice@example.com", "/debug/pprof", 403, "may not read /debug/pprof/"},
		{"bob@example.com", "/debug/pprof/cmdline", 403, "may not read /debug/pprof/"},
	} {
		req, _ := http.NewRequest(http.MethodGet, gw.URL+tc.path, nil)
		req.Header.Set(identity.HeaderUserLogin, tc.login)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s GET %s: %d %.200s; want %d with %q", tc.login, tc.path, resp.StatusCode, body, tc.status, tc.want)
		}
	}
}
