package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tailscale/hujson"
)

// MigrateGrants rewrites the temp_grants section of a configuration into a
// grants section with the same meaning, editing the HuJSON tree so that
// comments stay: those of the file and of each grant set where they were,
// each grant's own comment on the capability it becomes.
//
// What grants cannot say stays in temp_grants, which may sit beside
// grants: a hook grant that matches providers or models (a models
// capability would also grant those models) or has a CEL condition, and a
// set whose src has a wildcard pattern other than "*" and "*@domain".
// Notes lists what stayed and where a pattern's meaning narrows ("*" in a
// model pattern no longer crosses a "/").
func MigrateGrants(name string, data []byte) (out []byte, notes []string, err error) {
	keep := func(k string) (string, bool) { return "${" + k + "}", true }
	cfg, err := Parse(name, data, keep)
	if err != nil {
		return nil, nil, err
	}
	if cfg.GrantsDefaulted {
		return nil, nil, errors.New(name + ": no temp_grants section to migrate")
	}
	if cfg.Grants != nil {
		return nil, nil, errors.New(name + ": already has a grants section; move the rest by hand")
	}
	root, err := hujson.Parse(data)
	if err != nil {
		return nil, nil, err
	}
	top := root.Value.(*hujson.Object) // Parse accepted it: an object
	at := slices.IndexFunc(top.Members, func(m hujson.ObjectMember) bool { return memberName(m) == "temp_grants" })
	sets := top.Members[at].Value.Value.(*hujson.Array)

	var grants, rest []hujson.Value
	for i := range sets.Elements {
		set := cfg.TempGrants[i]
		el := sets.Elements[i]
		if slices.ContainsFunc(set.Src, isWildcardSource) {
			notes = append(notes, fmt.Sprintf("temp_grants[%d] stays: its src has a wildcard pattern grants do not take", i))
			rest = append(rest, el)
			continue
		}
		obj := el.Value.(*hujson.Object)
		gi := slices.IndexFunc(obj.Members, func(m hujson.ObjectMember) bool { return memberName(m) == "grants" })
		if gi < 0 {
			continue // a set without grants grants nothing
		}
		olds := obj.Members[gi].Value.Value.(*hujson.Array)
		var caps, left []hujson.Value
		for j, g := range set.Grants {
			c, note := migrateGrant(cfg, g)
			if note != "" {
				notes = append(notes, note)
			}
			if c == nil {
				left = append(left, olds.Elements[j])
				continue
			}
			v := mustValue(c)
			v.BeforeExtra = olds.Elements[j].BeforeExtra
			caps = append(caps, *v)
		}
		if len(left) > 0 {
			src, _ := json.Marshal(orNone(set.Src))
			kept := mustValue(json.RawMessage(`{"src": ` + string(src) + `, "grants": []}`))
			kept.Value.(*hujson.Object).Members[1].Value.Value.(*hujson.Array).Elements = left
			rest = append(rest, *kept)
		}
		if len(caps) == 0 {
			continue
		}
		app := mustValue(map[string]any{ApertureCap: []any{}})
		app.Value.(*hujson.Object).Members[0].Value.Value.(*hujson.Array).Elements = caps
		obj.Members[gi].Name.Value = hujson.String("app")
		obj.Members[gi].Value = *app
		grants = append(grants, el)
	}

	member := top.Members[at]
	member.Name.Value = hujson.String("grants")
	member.Value.Value = &hujson.Array{Elements: grants, AfterExtra: sets.AfterExtra}
	members := slices.Clone(top.Members[:at])
	members = append(members, member)
	if len(rest) > 0 {
		members = append(members, hujson.ObjectMember{
			Name:  *mustValue("temp_grants"),
			Value: hujson.Value{Value: &hujson.Array{Elements: rest}},
		})
		members[len(members)-1].Name.BeforeExtra = hujson.Extra("\n// What grants cannot say yet stays in temp_grants (see sluice config migrate).\n")
	}
	top.Members = append(members, top.Members[at+1:]...)
	root.Format()
	out = root.Pack()
	if _, err := Parse(name, out, keep); err != nil {
		return nil, nil, fmt.Errorf("migrated configuration does not load (please report): %w", err)
	}
	return out, notes, nil
}

func memberName(m hujson.ObjectMember) string {
	lit, _ := m.Name.Value.(hujson.Literal)
	return lit.String()
}

// isWildcardSource reports a src pattern temp_grants take and grants do not.
func isWildcardSource(src string) bool {
	return checkSource(src) != "" && strings.Contains(src, "*")
}

// migrateGrant returns the capability object a temp_grants grant becomes,
// or nil when grants cannot say it, with a note for people to read.
func migrateGrant(cfg *Config, g *Grant) (map[string]any, string) {
	switch {
	case g.Role != "":
		return map[string]any{"role": g.Role}, ""
	case g.Providers != nil:
		var models []string
		var note string
		for _, p := range g.Providers {
			models = append(models, modelPattern(p.Provider, p.Model))
			if p.Model != "*" && strings.Contains(p.Model, "*") && slashModel(cfg, p.Provider) {
				note = fmt.Sprintf("%s: in grants, \"*\" in model pattern %q no longer matches across \"/\"", g.Source(), p.Model)
			}
		}
		return map[string]any{"models": models}, note
	case g.MCP != nil:
		var tools []string
		for _, m := range g.MCP {
			tools = append(tools, m.Server+"/"+m.Tool)
		}
		return map[string]any{"mcp_tools": tools}, ""
	case g.Hook != nil:
		h := g.Hook
		if !matchesAll(h.Match.Providers) || !matchesAll(h.Match.Models) || h.Condition != "" {
			return nil, g.Source() + " stays in temp_grants: a hook grant that matches providers or models, or has a condition"
		}
		return map[string]any{"send_hooks": []sendHookJSON{{h.Hook, h.Match.Events, orNone(h.Fields)}}}, ""
	}
	return nil, ""
}

// sendHookJSON is a send_hooks entry with its keys in documentation order.
type sendHookJSON struct {
	Name   string   `json:"name"`
	Events []string `json:"events"`
	Send   []string `json:"send"`
}

// matchesAll reports a hook match field that selects everything: empty, or
// only "*".
func matchesAll(patterns []string) bool {
	return !slices.ContainsFunc(patterns, func(p string) bool { return p != "*" })
}

// modelPattern turns a temp_grants provider/model pair into a models
// pattern: a whole "*" model becomes "**", so that model names with a "/"
// (OpenRouter's) stay granted.
func modelPattern(provider, model string) string {
	if model == "*" {
		if provider == "*" {
			return "**"
		}
		return provider + "/**"
	}
	return provider + "/" + model
}

// slashModel reports whether a provider pattern covers a provider with a
// model name holding "/".
func slashModel(cfg *Config, provider string) bool {
	for _, p := range cfg.Providers {
		if provider != "*" && provider != p.ID {
			continue
		}
		if slices.ContainsFunc(p.Models, func(m string) bool { return strings.Contains(m, "/") }) {
			return true
		}
	}
	return false
}

func orNone(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// mustValue parses the JSON encoding of v as a HuJSON value.
func mustValue(v any) *hujson.Value {
	b, err := json.Marshal(v)
	if err != nil {
		panic("policy: migrate: " + err.Error())
	}
	val, err := hujson.Parse(b)
	if err != nil {
		panic("policy: migrate: " + err.Error())
	}
	return &val
}
