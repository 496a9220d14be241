package rego

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/sluice-gateway/sluice/policy"
)

// index is what each src pattern grants, grouped the way the library looks
// patterns up: "*", exact logins, "*@domain", "tag:name", and every other
// wildcard pattern. It lets a decision look up the few patterns that name
// the caller instead of scanning every grant.
type index struct {
	everyone *entry
	logins   map[string]*entry
	domains  map[string]*entry
	tags     map[string]*entry
	groups   map[string]*entry
	globs    map[string]*entry
}

// entry is what one src pattern grants. Each list holds Rego terms, in
// configuration order.
type entry struct {
	grants, roles, providers, hooks, mcp []string
	// hookMatch holds, for each of hooks, its match's providers and models
	// as two glob.match patterns (see anyGlob).
	hookMatch []string
	// caps are the capability objects of the grants section, app the
	// custom app capabilities ({"name", "value", "grant"}).
	caps, app []string
}

func newIndex() *index {
	return &index{
		logins:  make(map[string]*entry),
		domains: make(map[string]*entry),
		tags:    make(map[string]*entry),
		groups:  make(map[string]*entry),
		globs:   make(map[string]*entry),
	}
}

func (x *index) entryFor(src string) *entry {
	var m map[string]*entry
	key := src
	switch {
	case src == "*":
		if x.everyone == nil {
			x.everyone = &entry{}
		}
		return x.everyone
	case IsGlobSource(src):
		m = x.globs
	case strings.HasPrefix(src, "*@"):
		m, key = x.domains, strings.TrimPrefix(src, "*@")
	case strings.HasPrefix(src, "tag:"):
		m = x.tags
	case strings.HasPrefix(src, "group:"):
		m = x.groups
	default:
		m = x.logins
	}
	e := m[key]
	if e == nil {
		e = &entry{}
		m[key] = e
	}
	return e
}

func (x *index) add(src []string, g *policy.Grant) {
	id := quote(g.Source())
	for _, s := range src {
		e := x.entryFor(s)
		if n := len(e.grants); n > 0 && e.grants[n-1] == id {
			continue // the same pattern twice in one src list
		}
		e.grants = append(e.grants, id)
		switch {
		case g.Role != "":
			e.roles = appendNew(e.roles, quote(g.Role))
		case g.Providers != nil:
			for _, p := range g.Providers {
				e.providers = append(e.providers, fmt.Sprintf(`{"provider": %s, "model": %s, "grant": %s, "match": [%s, %s]}`,
					quote(p.Provider), quote(p.Model), id, quote(starGlob(p.Provider)), quote(starGlob(p.Model))))
			}
		case g.Hook != nil:
			h := g.Hook
			cond := ""
			if h.Condition != "" {
				cond = `, "condition": ` + quote(h.Condition)
			}
			e.hooks = append(e.hooks, fmt.Sprintf(`{"hook": %s, "fields": %s, "events": %s, "providers": %s, "models": %s, "grant": %s%s}`,
				quote(h.Hook), quoteList(h.Fields), quoteList(h.Match.Events), quoteList(h.Match.Providers), quoteList(h.Match.Models), id, cond))
			e.hookMatch = append(e.hookMatch, "["+quote(anyGlob(h.Match.Providers))+", "+quote(anyGlob(h.Match.Models))+"]")
		case g.MCP != nil:
			for _, m := range g.MCP {
				e.mcp = append(e.mcp, fmt.Sprintf(`{"server": %s, "tool": %s, "grant": %s}`, quote(m.Server), quote(m.Tool), id))
			}
		case g.Quotas != nil:
			// A temp_grants quotas grant is the grants capability
			// {"quotas": [...]} without models: the library's quotas
			// rule reads both alike.
			qs := make([]string, len(g.Quotas))
			for i, q := range g.Quotas {
				qs[i] = `{"bucket": ` + quote(q) + `}`
			}
			e.caps = append(e.caps, fmt.Sprintf(`{"quotas": [%s], "grant": %s}`, strings.Join(qs, ", "), id))
		}
	}
}

// addApp indexes one entry of the grants section under each of its sources.
func (x *index) addApp(g *policy.AppGrant) {
	id := quote(g.Source())
	var caps, app []string
	for _, c := range g.Caps {
		caps = append(caps, capTerm(c))
	}
	for _, cc := range g.Custom {
		for _, v := range cc.Values {
			app = append(app, fmt.Sprintf(`{"name": %s, "value": %s, "grant": %s}`, quote(cc.Name), v, id))
		}
	}
	for _, s := range g.Src {
		e := x.entryFor(s)
		if n := len(e.grants); n > 0 && e.grants[n-1] == id {
			continue // the same pattern twice in one src list
		}
		e.grants = append(e.grants, id)
		e.caps = append(e.caps, caps...)
		e.app = append(e.app, app...)
	}
}

func appendNew(list []string, s string) []string {
	for _, have := range list {
		if have == s {
			return list
		}
	}
	return append(list, s)
}

func (x *index) write(b *bytes.Buffer) {
	b.WriteString("\n# The index below is derived from the grant rules above. It says, for each\n")
	b.WriteString("# src pattern, what the pattern receives, so that a decision looks up the\n")
	b.WriteString("# few patterns naming the caller instead of scanning every grant. A provider\n")
	b.WriteString("# grant's \"match\", and each hook's pair in \"hook_match\", hold its provider\n")
	b.WriteString("# and model patterns as the glob.match patterns the library matches them with.\n")
	if x.everyone == nil {
		b.WriteString("\n# No src is \"*\", so there is no \"everyone\".\n")
	} else {
		b.WriteString("\n# everyone is what \"*\" receives.\n")
		b.WriteString("everyone := ")
		x.everyone.write(b, 0)
	}
	// One rule rather than one per kind of pattern: a decision looks in
	// several of them, and each rule it reads costs it a rule evaluation.
	b.WriteString("\n# index maps the other patterns to what they receive: \"logins\" each exact\n")
	b.WriteString("# login, \"domains\" the domain of each \"*@domain\" pattern, \"tags\" each\n")
	b.WriteString("# \"tag:name\" pattern, \"groups\" each \"group:name\" pattern, and \"globs\"\n")
	b.WriteString("# every other pattern with \"*\" wildcards (the library tries each against\n")
	b.WriteString("# the caller).\n")
	b.WriteString("index := {\n")
	writeEntries(b, "logins", x.logins)
	writeEntries(b, "domains", x.domains)
	writeEntries(b, "tags", x.tags)
	writeEntries(b, "groups", x.groups)
	writeEntries(b, "globs", x.globs)
	b.WriteString("}\n")
}

func writeEntries(b *bytes.Buffer, name string, m map[string]*entry) {
	b.WriteString("\t" + quote(name) + ": ")
	if len(m) == 0 {
		b.WriteString("{},\n")
		return
	}
	b.WriteString("{\n")
	for _, k := range sortedKeys(m) {
		b.WriteString("\t\t" + quote(k) + ": ")
		m[k].write(b, 2)
	}
	b.WriteString("\t},\n")
}

// write renders e as a Rego object at the given indentation. Every entry
// has every key, so that OPA's type checker accepts the library's lookups
// whatever the configuration grants.
func (e *entry) write(b *bytes.Buffer, depth int) {
	in := strings.Repeat("\t", depth+1)
	b.WriteString("{\n")
	for _, f := range []struct {
		name  string
		terms []string
	}{{"grants", e.grants}, {"roles", e.roles}, {"providers", e.providers}, {"hooks", e.hooks}, {"hook_match", e.hookMatch}, {"mcp", e.mcp}, {"caps", e.caps}, {"app", e.app}} {
		b.WriteString(in + quote(f.name) + ": ")
		if len(f.terms) == 0 || (len(f.terms) == 1 && (f.name == "grants" || f.name == "roles")) {
			b.WriteString("[" + strings.Join(f.terms, ", ") + "],\n")
			continue
		}
		b.WriteString("[\n")
		for _, t := range f.terms {
			b.WriteString(in + "\t" + t + ",\n")
		}
		b.WriteString(in + "],\n")
	}
	b.WriteString(strings.Repeat("\t", depth) + "}")
	if depth > 0 {
		b.WriteString(",")
	}
	b.WriteString("\n")
}

// IsGlobSource reports whether a src pattern needs a wildcard match: it has
// a "*" and is neither "*" nor "*@domain", which match by lookup.
func IsGlobSource(src string) bool {
	if src == "*" || !strings.Contains(src, "*") {
		return false
	}
	if domain, ok := strings.CutPrefix(src, "*@"); ok && domain != "" && !strings.ContainsAny(domain, "*@") {
		return false
	}
	return true
}

// starGlob returns the glob.match pattern (without delimiters) that
// matches exactly the values the library's star_match(pattern, value)
// matches: "*" stands for any run of characters, every other character
// for itself. It is what star_match computes on every call
// (glob.quote_meta, then `\*` back to "*"), done once when the policy is
// compiled, so that a decision matches a grant with one built-in call.
func starGlob(pattern string) string {
	var b strings.Builder
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '?', '\\', '[', ']', '{', '}':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// anyGlob returns the glob.match pattern (without delimiters) that
// matches exactly the values the library's any_match(patterns, value)
// matches: any value when patterns is empty, else a value one of them
// star-matches ("{a,b}" alternatives, commas in them escaped).
func anyGlob(patterns []string) string {
	if len(patterns) == 0 || slices.Contains(patterns, "*") {
		return "*"
	}
	if len(patterns) == 1 {
		return starGlob(patterns[0])
	}
	alts := make([]string, len(patterns))
	for i, p := range patterns {
		alts[i] = strings.ReplaceAll(starGlob(p), ",", `\,`)
	}
	return "{" + strings.Join(alts, ",") + "}"
}
