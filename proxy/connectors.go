package proxy

import (
	"net/http"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/mcpgw"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/store"
)

// buildConnectors sets up /v1/mcp and /v1/connectors/ (package mcpgw),
// which read the served configuration and policy on every request.
func (s *Server) buildConnectors() {
	log, _ := s.opts.Store.(store.ToolCallLog)
	s.connectors = mcpgw.New(mcpgw.Options{
		Identify: func(w http.ResponseWriter, r *http.Request) (mcpgw.Caller, bool) {
			c, ok := s.localCaller(w, r)
			if !ok {
				return mcpgw.Caller{}, false
			}
			return mcpgw.Caller{User: policyUser(c.who), Caps: c.who.Caps}, true
		},
		State: func() (*policy.Config, *engine.Engine) {
			st := s.state.Load()
			return st.cfg, st.engine
		},
		Transport:        s.opts.Transport,
		TailnetTransport: s.opts.TailnetTransport,
		ToolCalls:        log,
		Hooks:            s.hooks,
		Logger:           s.log,
		ConnectTimeout:   s.opts.ConnectTimeout,
	})
}
