package mcpgw

import (
	"encoding/json"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/policy"
)

// clientOnlyHeaders never reach a connector: the caller's own credentials
// and the identity headers a local `tailscale serve` adds.
var clientOnlyHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie", "X-Api-Key"}

// serveConnector proxies /v1/connectors/<id>/<path> to the HTTP connector
// <id>, with the connector's credential instead of the caller's. Unknown
// connectors answer 404, paths policy does not grant (category "proxy")
// 403.
func (g *Gateway) serveConnector(w http.ResponseWriter, r *http.Request, c Caller) {
	rest := strings.TrimPrefix(r.URL.EscapedPath(), ConnectorsPrefix)
	id, path, _ := strings.Cut(rest, "/")
	cfg, eng := g.opts.State()
	k := cfg.Connector(id)
	if k == nil || k.Protocol != policy.ConnectorHTTP {
		writeError(w, http.StatusNotFound, "no HTTP connector "+id+" on this gateway")
		return
	}
	unescaped, err := url.PathUnescape(path)
	if err != nil {
		writeError(w, http.StatusBadRequest, "malformed path")
		return
	}
	if !g.allowed(r.Context(), eng, c, k, engine.KindProxy, unescaped) {
		g.log.Info("connector proxy denied", "login", c.User.Login, "connector", id, "method", r.Method, "path", "/"+unescaped)
		writeError(w, http.StatusForbidden, "access denied: "+c.User.Login+" has no grant for "+id+"/proxy/"+unescaped)
		return
	}
	client, err := g.httpClient(k)
	if err != nil {
		writeError(w, http.StatusBadGateway, "connector "+id+" cannot be reached from this gateway")
		return
	}
	target, err := url.Parse(k.URL)
	if err != nil || k.URL == "" {
		writeError(w, http.StatusBadGateway, "connector "+id+" has no usable url")
		return
	}
	start := time.Now()
	status := 0
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			// SetURL joined the target's path with the inbound one; the
			// inbound path is /v1/connectors/<id>/<path>: keep <path> only.
			// RawPath keeps the caller's escaping ("%2F" stays one
			// segment); url.URL ignores it if it does not match Path.
			pr.Out.URL.Path = strings.TrimSuffix(target.Path, "/") + "/" + unescaped
			pr.Out.URL.RawPath = strings.TrimSuffix(target.EscapedPath(), "/") + "/" + path
			pr.Out.URL.RawQuery = r.URL.RawQuery
			for _, h := range clientOnlyHeaders {
				pr.Out.Header.Del(h)
			}
			for name := range pr.Out.Header {
				if strings.HasPrefix(strings.ToLower(name), "tailscale-") {
					pr.Out.Header.Del(name)
				}
			}
		},
		Transport:     client.Transport,
		FlushInterval: -1,
		ModifyResponse: func(res *http.Response) error {
			status = res.StatusCode
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			status = http.StatusBadGateway
			g.log.Warn("connector proxy failed", "connector", id, "err", err)
			writeError(w, http.StatusBadGateway, "connector "+id+" could not be reached")
		},
	}
	rp.ServeHTTP(w, r)
	// HTTP connector traffic is not recorded as requests; the server log
	// keeps who used which connector path.
	g.log.Info("connector proxy", "login", c.User.Login, "connector", id, "method", r.Method, "path", "/"+unescaped,
		"status", status, "latency", time.Since(start))
}

// writeError answers with {"error": msg}.
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
