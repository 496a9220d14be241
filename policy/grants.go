package policy

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/tailscale/hujson"
)

// ApertureCap is the app capability name under which grants (in the config
// and in the tailnet policy file) carry what sluice enforces.
const ApertureCap = "tailscale.com/cap/aperture"

// AppGrant is one entry of the grants section: sources and, per app
// capability name, what they receive. Access is the union of every grant
// whose src names the caller; there is no deny.
type AppGrant struct {
	Index int // position in grants
	Src   []string
	// Caps are the capability objects under ApertureCap, in order.
	Caps []*Capability
	// Custom holds every other app capability, in file order, kept as
	// standard JSON: sluice does not read them, it hands them to hooks
	// whose send_hooks ask for "grants".
	Custom []CustomCap
	Pos    Pos
}

// Source names the grant the way diagnostics and generated Rego do:
// "grants[i]".
func (g *AppGrant) Source() string { return "grants[" + itoa(g.Index) + "]" }

// CustomCap is one app capability sluice does not interpret.
type CustomCap struct {
	Name   string
	Values []string // each a standard JSON value
}

// Capability is one object of a grant's ApertureCap list. Its keys combine
// freely; each set key adds to what the grant's sources receive.
type Capability struct {
	Grant int // index of the AppGrant in grants
	Index int // position in the capability list
	// Role is RoleUser, RoleAdmin or empty.
	Role string
	// Models are "provider/model" globs: "*" matches within one
	// "/"-separated segment, "**" any number of segments.
	Models      []string
	SendHooks   []SendHook
	ReadMetrics bool
	AddHeaders  []Header
	// Quotas are the names of the buckets (of the quotas section) that
	// every request the capability applies to is charged in.
	Quotas       []string
	Connectors   []string
	MCPTools     []string
	MCPResources []string
	MCPTemplates []string
	CORS         *CORS
	// EnableChatUI is kept for compatibility; sluice has no chat UI.
	EnableChatUI *bool
	// ForceModel sends every request of the grant's sources to this model
	// (sluice's own key), as force_model does for everyone.
	ForceModel string
	Pos        Pos
}

// Source names the capability the way diagnostics write its path:
// "grants[i].app.tailscale.com/cap/aperture[j]".
func (c *Capability) Source() string {
	return "grants[" + itoa(c.Grant) + "].app." + ApertureCap + "[" + itoa(c.Index) + "]"
}

// SendHook wires a hook of the hooks section to the traffic of a capability.
type SendHook struct {
	Name   string
	Events []string
	// Send are the payload fields the hook receives (HookFields, or
	// FieldGrants for the caller's custom app capabilities).
	Send []string
	Pos  Pos
}

// SendFields lists the values send_hooks[].send accepts: the same payload
// fields as a temp_grants hook grant's fields.
var SendFields = HookFields

// Header is one header add_headers sets on upstream requests.
type Header struct {
	Name  string
	Value string
}

// CORS holds a capability's CORS keys.
type CORS struct {
	Set          bool
	Paths        []string
	AllowOrigin  string
	AllowMethods string
	AllowHeaders string
}

// CapabilityKeys lists the keys a capability object under ApertureCap may
// have. Any other key is refused: it may mean a restriction sluice would
// not apply.
var CapabilityKeys = []string{
	"role", "models", "send_hooks", "quotas", "add_headers", "read_metrics",
	"connectors", "mcp_tools", "mcp_resources", "mcp_templates", "enable_chat_ui",
	"set_cors", "cors_paths", "Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
	"force_model",
}

// appGrants decodes the grants section. It is the one place that reads it;
// Parse only dispatches to it.
func (d *decoder) appGrants(c *Config, v *hujson.Value, path string) {
	c.Grants = []*AppGrant{}
	d.array(v, path, func(i int, gv *hujson.Value, p string) {
		g := &AppGrant{Index: i, Pos: d.pos(gv)}
		d.object(gv, p, func(key string, fv *hujson.Value, fp string) bool {
			switch key {
			case "src":
				d.array(fv, fp, func(_ int, ev *hujson.Value, ep string) {
					src := d.str(ev, ep)
					if msg := checkSource(src); msg != "" {
						d.errorAt(ev, ep, CodeBadSource, errorf("%s: %s", displayPath(ep), msg))
						return
					}
					g.Src = append(g.Src, src)
				})
			case "dst":
				d.errorAt(fv, fp, CodeBadGrant, errorf("%s: a config grant has no \"dst\" (it applies to this gateway); \"dst\" belongs to grants of the tailnet policy file", g.Source()))
			case "app":
				d.object(fv, fp, func(name string, av *hujson.Value, ap string) bool {
					if name == ApertureCap {
						d.array(av, ap, func(j int, cv *hujson.Value, cp string) {
							g.Caps = append(g.Caps, d.capability(i, j, cv, cp))
						})
						return true
					}
					cc := CustomCap{Name: name}
					d.array(av, ap, func(_ int, cv *hujson.Value, _ string) {
						cc.Values = append(cc.Values, standardJSON(cv))
					})
					g.Custom = append(g.Custom, cc)
					return true
				})
			default:
				// A key such as srcPosture narrows who a grant applies to;
				// ignoring it would widen access.
				d.errorAt(fv, fp, CodeUnknownField, errorf("%s: unknown field %q (a config grant has \"src\" and \"app\"); sluice refuses a grant it cannot fully apply", g.Source(), key))
			}
			return true
		})
		if len(g.Src) == 0 {
			d.warnAt(gv, p, CodeBadSource, errorf("%s has no src: it applies to nobody", g.Source()))
		}
		c.Grants = append(c.Grants, g)
	})
}

// checkSource returns why src is not a valid grants source, or "".
func checkSource(src string) string {
	switch {
	case strings.TrimSpace(src) == "":
		return `empty source (want "*", a login, "*@domain", "tag:name" or "group:name")`
	case src == "*":
	case strings.HasPrefix(src, "tag:"), strings.HasPrefix(src, "group:"):
		if strings.ContainsAny(src, "* ") || strings.IndexByte(src, ':') == len(src)-1 {
			return errorf("invalid source %q (want \"tag:name\" or \"group:name\" without wildcards)", src)
		}
	case strings.HasPrefix(src, "*@"):
		if dom := src[2:]; dom == "" || strings.ContainsAny(dom, "*@ ") {
			return errorf("invalid source %q (want \"*@domain\")", src)
		}
	case strings.Contains(src, "*"):
		return errorf("invalid source %q (grants take \"*\", \"*@domain\", an exact login, \"tag:name\" or \"group:name\")", src)
	}
	return ""
}

// capability decodes one capability object. Unknown keys are errors, not
// warnings: sluice must not grant access while ignoring part of a grant.
func (d *decoder) capability(grant, idx int, v *hujson.Value, path string) *Capability {
	c := &Capability{Grant: grant, Index: idx, Pos: d.pos(v)}
	obj, ok := v.Value.(*hujson.Object)
	if !ok {
		d.typeError(v, path, "object")
		return c
	}
	var cors CORS
	corsSet := false
	for i := range obj.Members {
		m := &obj.Members[i]
		key := m.Name.Value.(hujson.Literal).String()
		fv, fp := &m.Value, child(path, key)
		if strings.HasPrefix(key, "Access-Control-") || key == "set_cors" || key == "cors_paths" {
			corsSet = true
		}
		switch key {
		case "role":
			c.Role = d.str(fv, fp)
			if c.Role != RoleUser && c.Role != RoleAdmin {
				d.errorAt(fv, fp, CodeBadRole, errorf("%s: unknown role %q (want \"user\" or \"admin\")", c.Source(), c.Role))
			}
		case "models":
			c.Models = d.strOrStrs(fv, fp)
			for j, m := range c.Models {
				if msg := checkModelGlob(m); msg != "" {
					d.errorAt(fv, fp, CodeBadGrant, errorf("%s: models[%d]: %s", c.Source(), j, msg))
				}
			}
		case "send_hooks":
			d.array(fv, fp, func(_ int, hv *hujson.Value, hp string) {
				c.SendHooks = append(c.SendHooks, d.sendHook(c, hv, hp))
			})
		case "quotas":
			c.Quotas = d.quotaList(c.Source(), fv, fp)
		case "add_headers":
			d.array(fv, fp, func(_ int, hv *hujson.Value, hp string) {
				h, err := ParseHeader(d.str(hv, hp))
				if err != "" {
					d.errorAt(hv, hp, CodeBadHeader, errorf("%s: %s", c.Source(), err))
					return
				}
				c.AddHeaders = append(c.AddHeaders, h)
			})
		case "read_metrics":
			c.ReadMetrics = d.boolean(fv, fp)
		case "force_model":
			c.ForceModel = d.str(fv, fp)
			if strings.TrimSpace(c.ForceModel) == "" {
				d.errorAt(fv, fp, CodeBadGrant, errorf("%s: force_model: want a model name", c.Source()))
			}
		case "enable_chat_ui":
			b := d.boolean(fv, fp)
			c.EnableChatUI = &b
		case "connectors":
			c.Connectors = d.strOrStrs(fv, fp)
		case "mcp_tools":
			c.MCPTools = d.strOrStrs(fv, fp)
		case "mcp_resources":
			c.MCPResources = d.strOrStrs(fv, fp)
		case "mcp_templates":
			c.MCPTemplates = d.strOrStrs(fv, fp)
		case "set_cors":
			cors.Set = d.boolean(fv, fp)
		case "cors_paths":
			cors.Paths = d.strOrStrs(fv, fp)
		case "Access-Control-Allow-Origin":
			cors.AllowOrigin = d.str(fv, fp)
		case "Access-Control-Allow-Methods":
			cors.AllowMethods = d.str(fv, fp)
		case "Access-Control-Allow-Headers":
			cors.AllowHeaders = d.str(fv, fp)
		default:
			d.errorAt(&m.Name, fp, CodeUnknownCapability, errorf("%s: unknown capability %q (known: %s); sluice refuses a grant it cannot fully apply",
				c.Source(), key, strings.Join(CapabilityKeys, ", ")))
		}
	}
	if corsSet {
		c.CORS = &cors
	}
	return c
}

func (d *decoder) sendHook(c *Capability, v *hujson.Value, path string) SendHook {
	sh := SendHook{Pos: d.pos(v)}
	var nameV *hujson.Value
	d.object(v, path, func(key string, fv *hujson.Value, fp string) bool {
		switch key {
		case "name":
			nameV = fv
			sh.Name = d.str(fv, fp)
		case "events":
			d.array(fv, fp, func(_ int, ev *hujson.Value, ep string) {
				e := d.str(ev, ep)
				if !slices.Contains(Events, e) {
					d.errorAt(ev, ep, CodeBadEvent, errorf("%s: unknown hook event %q (known: %s)", c.Source(), e, strings.Join(Events, ", ")))
					return
				}
				sh.Events = append(sh.Events, e)
			})
		case "send":
			d.array(fv, fp, func(_ int, ev *hujson.Value, ep string) {
				f := d.str(ev, ep)
				if !slices.Contains(SendFields, f) {
					d.errorAt(ev, ep, CodeBadField, errorf("%s: hook field %q is unknown or not supported by sluice (supported: %s)", c.Source(), f, strings.Join(SendFields, ", ")))
					return
				}
				sh.Send = append(sh.Send, f)
			})
		default:
			return false
		}
		return true
	})
	if nameV == nil || sh.Name == "" {
		d.errorAt(v, path, CodeBadGrant, errorf("%s: send_hooks entry names no hook", c.Source()))
	} else {
		d.hookRefs = append(d.hookRefs, hookRef{name: sh.Name, v: nameV, path: child(path, "name"), grant: c.Source()})
	}
	if len(sh.Events) == 0 {
		// As for temp_grants hook grants: without events, the documented
		// event that fires after a response with tool calls.
		sh.Events = []string{EventToolCallEntireRequest}
	}
	return sh
}

// strOrStrs reads a string or an array of strings.
func (d *decoder) strOrStrs(v *hujson.Value, path string) []string {
	if lit, ok := v.Value.(hujson.Literal); ok && lit.Kind() == '"' {
		return []string{d.str(v, path)}
	}
	if _, ok := v.Value.(*hujson.Array); !ok {
		if !isNull(v) {
			d.typeError(v, path, "string or array of strings")
		}
		return nil
	}
	return d.strs(v, path)
}

// checkModelGlob returns why a models pattern is malformed, or "".
func checkModelGlob(p string) string {
	switch {
	case p == "":
		return "empty pattern (want \"provider/model\", \"provider/**\" or \"**\")"
	case p == "**":
		return ""
	case !strings.Contains(p, "/"):
		return errorf("pattern %q has no provider part (want \"provider/model\", e.g. \"openai/gpt-4*\" or \"anthropic/**\")", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" {
			return errorf("pattern %q has an empty segment", p)
		}
		if strings.Contains(seg, "**") && seg != "**" {
			return errorf("pattern %q: \"**\" must be a whole segment", p)
		}
	}
	return ""
}

// forbiddenHeaders are headers add_headers may never set: credentials
// (sluice injects the provider's own and never forwards a client's) and
// hop-by-hop or framing headers that belong to the connection.
var forbiddenHeaders = []string{
	"authorization", "proxy-authorization", "x-api-key", "x-goog-api-key", "api-key",
	"cookie", "x-amz-security-token", "x-amz-date", "x-amz-content-sha256",
	"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "te", "trailer",
	"transfer-encoding", "upgrade", "host", "content-length",
}

// ParseHeader parses an add_headers entry "Name: value". It returns a
// non-empty message when the entry is malformed or names a header sluice
// never lets a grant set. Grants from the tailnet policy file go through
// it too, at decision time.
func ParseHeader(s string) (Header, string) {
	name, value, ok := strings.Cut(s, ":")
	if !ok {
		return Header{}, errorf("header %q is not \"Name: value\"", s)
	}
	value = strings.TrimSpace(value)
	if !validHeaderName(name) {
		return Header{}, errorf("header name %q is not a valid HTTP header name", name)
	}
	if slices.Contains(forbiddenHeaders, strings.ToLower(name)) {
		return Header{}, errorf("header %q may not be set by a grant (credentials and hop-by-hop headers are sluice's to manage)", name)
	}
	for i := 0; i < len(value); i++ {
		if b := value[i]; (b < ' ' && b != '\t') || b == 0x7f {
			return Header{}, errorf("header %s has a control character in its value", name)
		}
	}
	return Header{Name: name, Value: value}, ""
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0:
		default:
			return false
		}
	}
	return true
}

// standardJSON renders a HuJSON value as compact standard JSON.
func standardJSON(v *hujson.Value) string {
	std, err := hujson.Standardize(v.Pack())
	if err != nil {
		return "null" // a parsed value always standardizes
	}
	var b bytes.Buffer
	if json.Compact(&b, std) != nil {
		return "null"
	}
	return b.String()
}
