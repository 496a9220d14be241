package rego

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/sluice-gateway/sluice/policy"
)

// capTerm renders a capability of the grants section as a Rego object with
// the same keys as the capability object in the configuration (and as the
// ones the tailnet policy file delivers in input.user.caps), normalized:
// list-or-string keys are always lists, and "grant" names the source. The
// library reads both kinds with the same rules.
func capTerm(c *policy.Capability) string {
	m := map[string]any{"grant": c.Source()}
	if c.Role != "" {
		m["role"] = c.Role
	}
	setList := func(key string, v []string) {
		if v != nil {
			m[key] = v
		}
	}
	setList("models", c.Models)
	if c.SendHooks != nil {
		hooks := make([]map[string]any, len(c.SendHooks))
		for i, h := range c.SendHooks {
			hooks[i] = map[string]any{"name": h.Name, "events": orEmpty(h.Events), "send": orEmpty(h.Send)}
		}
		m["send_hooks"] = hooks
	}
	if c.ReadMetrics {
		m["read_metrics"] = true
	}
	if c.ForceModel != "" {
		m["force_model"] = c.ForceModel
	}
	if c.AddHeaders != nil {
		hs := make([]string, len(c.AddHeaders))
		for i, h := range c.AddHeaders {
			hs[i] = h.Name + ": " + h.Value
		}
		m["add_headers"] = hs
	}
	if c.Quotas != nil {
		qs := make([]map[string]string, len(c.Quotas))
		for i, q := range c.Quotas {
			qs[i] = map[string]string{"bucket": q}
		}
		m["quotas"] = qs
	}
	setList("connectors", c.Connectors)
	setList("mcp_tools", c.MCPTools)
	setList("mcp_resources", c.MCPResources)
	setList("mcp_templates", c.MCPTemplates)
	if c.EnableChatUI != nil {
		m["enable_chat_ui"] = *c.EnableChatUI
	}
	if cors := c.CORS; cors != nil {
		m["set_cors"] = cors.Set
		m["cors_paths"] = orEmpty(cors.Paths)
		if cors.AllowOrigin != "" {
			m["Access-Control-Allow-Origin"] = cors.AllowOrigin
		}
		if cors.AllowMethods != "" {
			m["Access-Control-Allow-Methods"] = cors.AllowMethods
		}
		if cors.AllowHeaders != "" {
			m["Access-Control-Allow-Headers"] = cors.AllowHeaders
		}
	}
	return jsonTerm(m)
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// jsonTerm renders v as JSON, which is Rego term syntax; map keys come out
// sorted, so the output is deterministic.
func jsonTerm(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("rego: capability does not encode: " + err.Error()) // strings, bools and lists always do
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// writeAppGrant writes the rule of one entry of the grants section.
func writeAppGrant(b *bytes.Buffer, g *policy.AppGrant) {
	src := g.Source()
	b.WriteString("\n# " + src)
	if p := g.Pos.String(); p != "" {
		b.WriteString(" at " + oneLine(p))
	}
	if len(g.Src) == 0 {
		b.WriteString(" (its src is empty: it applies to nobody)")
	}
	b.WriteString("\ngrant[" + quote(src) + "] := {\n")
	b.WriteString("\t\"src\": " + quoteList(g.Src) + ",\n")
	b.WriteString("\t\"caps\": [\n")
	for _, c := range g.Caps {
		b.WriteString("\t\t" + capTerm(c) + ",\n")
	}
	b.WriteString("\t],\n")
	if len(g.Custom) > 0 {
		b.WriteString("\t\"app\": {\n")
		for _, cc := range g.Custom {
			b.WriteString("\t\t" + quote(cc.Name) + ": [" + strings.Join(cc.Values, ", ") + "],\n")
		}
		b.WriteString("\t},\n")
	}
	b.WriteString("}\n")
}
