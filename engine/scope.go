package engine

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/rego"
)

// grantScope is what lets a reload that changes some callers' grants keep
// the cached decisions of everyone else. A decision reads the generated
// grants only through the index the library looks the caller up in
// (rego/lib/sources.rego): "everyone", and the entries of the caller's
// login, domain, tags and groups, plus those of the glob patterns that
// match the caller. So when everything else is unchanged, a cached decision
// stays exact unless an index entry that may name its caller changed.
//
// Each test below errs towards dropping: a decision kept wrongly would
// serve access a reload took away.
type grantScope struct {
	// rest fingerprints everything a decision reads but the index: the
	// modules without the generated index and grant rules (which the
	// library does not read), the cache key's fields and the hooks.
	rest     string
	everyone string // hash of data.sluice.grants.everyone; "" when absent
	// kinds hash each index entry, by kind ("logins", "domains", "tags",
	// "groups", "globs") and pattern key.
	kinds map[string]map[string]string
}

// indexKinds are the keys of data.sluice.grants.index.
var indexKinds = []string{"logins", "domains", "tags", "groups", "globs"}

// fingerprint hashes what a revision's decisions read, in one pass over
// the compiled modules. decides covers all of it: the modules without
// their comments (the generated grants name the file and each grant's
// line), the cache key's fields, and which hooks are defined and enabled
// (see revision.decides). The grant scope covers the same but for the
// generated index and grant rules, which it hashes per pattern instead;
// it is nil, so that a reload drops every cached decision whenever the
// grants change, when a module other than the generated one reads
// data.sluice.grants in a way it does not model: the user's modules at
// all, the library beyond the index, everyone and the rules kept in rest.
func fingerprint(c *ast.Compiler, key keyFields, cfg *policy.Config) (decides string, scope *grantScope) {
	all, rest := sha256.New(), sha256.New()
	both := io.MultiWriter(all, rest)
	write := func(w io.Writer, text string) {
		io.WriteString(w, text)
		w.Write([]byte{0})
	}
	s := &grantScope{kinds: make(map[string]map[string]string)}
	scoped := c.Modules[rego.GrantsFile] != nil && readsGrantsAsModeled(c)
	for _, name := range sortedModuleNames(c) {
		m := c.Modules[name]
		write(both, name)
		if name != rego.GrantsFile {
			write(both, m.String())
			continue
		}
		write(both, m.Package.String())
		for _, imp := range m.Imports {
			write(both, imp.String())
		}
		for _, r := range m.Rules {
			text := r.String()
			write(all, text)
			switch r.Head.Name.String() {
			case "grant":
			case "everyone":
				s.everyone = hashTerm(r.Head.Value)
			case "index":
				scoped = scoped && s.readIndex(r.Head.Value)
			default:
				write(rest, text)
			}
		}
	}
	fmt.Fprintf(both, "key %+v\x00", key)
	for _, hk := range hookFlags(cfg) {
		write(both, hk)
	}
	decides = hex.EncodeToString(all.Sum(nil)[:12])
	if !scoped {
		return decides, nil
	}
	s.rest = hex.EncodeToString(rest.Sum(nil)[:12])
	return decides, s
}

// readIndex hashes each entry of the generated index, an object of
// objects; it reports false for any other shape.
func (s *grantScope) readIndex(t *ast.Term) bool {
	obj, ok := t.Value.(ast.Object)
	if !ok || obj.Len() != len(indexKinds) {
		return false
	}
	for _, kind := range indexKinds {
		v := obj.Get(ast.StringTerm(kind))
		if v == nil {
			return false
		}
		entries, ok := v.Value.(ast.Object)
		if !ok {
			return false
		}
		m := make(map[string]string, entries.Len())
		bad := false
		entries.Foreach(func(k, v *ast.Term) {
			key, ok := k.Value.(ast.String)
			if !ok {
				bad = true
				return
			}
			m[string(key)] = hashTerm(v)
		})
		if bad {
			return false
		}
		s.kinds[kind] = m
	}
	return true
}

func hashTerm(t *ast.Term) string {
	sum := sha256.Sum256([]byte(t.String()))
	return string(sum[:16])
}

// readsGrantsAsModeled reports whether the modules other than the
// generated one read data.sluice.grants only as grantScope models it. The
// user's modules may not read it at all (nor define rules in it); the
// library may read any rule but "grant", which rest leaves out. A
// reference that computes its package path (data[x]) could read anything,
// so it counts as reading the grants.
func readsGrantsAsModeled(c *ast.Compiler) bool {
	library := make(map[string]bool)
	for _, m := range rego.Library() {
		library[m.Name] = true
	}
	for name, m := range c.Modules {
		if name != rego.GrantsFile && !moduleReadsGrantsAsModeled(m, library[name]) {
			return false
		}
	}
	return true
}

func moduleReadsGrantsAsModeled(m *ast.Module, library bool) bool {
	ok := true
	ast.WalkRefs(m, func(r ast.Ref) bool {
		if !ok || !r[0].Equal(ast.DefaultRootDocument) {
			return !ok
		}
		// The leading constant part of the path under data, up to three
		// names: enough to tell data.sluice.grants.<rule>.
		var path []string
		for _, t := range r[1:] {
			s, isStr := t.Value.(ast.String)
			if !isStr || len(path) == 3 {
				break
			}
			path = append(path, string(s))
		}
		switch {
		case len(path) >= 1 && path[0] != "sluice":
		case len(path) >= 2 && path[1] != "grants":
		case len(path) < 2:
			ok = false // data or data.sluice whole, or a computed name in it
		case !library:
			ok = false
		case len(path) < 3 || path[2] == "grant":
			ok = false
		}
		return !ok
	})
	return ok
}

func sortedModuleNames(c *ast.Compiler) []string {
	names := make([]string, 0, len(c.Modules))
	for name := range c.Modules {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// hookFlags are the hooks section's names and disabled flags, sorted: a
// decision checks required hooks against them.
func hookFlags(cfg *policy.Config) []string {
	hooks := make([]string, 0, len(cfg.Hooks))
	for _, hk := range cfg.Hooks {
		hooks = append(hooks, fmt.Sprintf("%q %v", hk.Name, hk.Disabled))
	}
	slices.Sort(hooks)
	return hooks
}

// staleCallers are the index patterns whose entries differ between two
// revisions: any caller one of them may name may be decided otherwise.
type staleCallers struct {
	logins, domains, tags, groups, globs map[string]bool
}

// changedSince returns the patterns whose entries differ from old's, or
// nil when every cached decision must go: something besides the index
// changed, or "everyone" did.
func (s *grantScope) changedSince(old *grantScope) *staleCallers {
	if s == nil || old == nil || s.rest != old.rest || s.everyone != old.everyone {
		return nil
	}
	diff := func(kind string) map[string]bool {
		out := make(map[string]bool)
		a, b := s.kinds[kind], old.kinds[kind]
		for k, v := range a {
			if w, ok := b[k]; !ok || w != v {
				out[k] = true
			}
		}
		for k := range b {
			if _, ok := a[k]; !ok {
				out[k] = true
			}
		}
		return out
	}
	return &staleCallers{logins: diff("logins"), domains: diff("domains"), tags: diff("tags"), groups: diff("groups"), globs: diff("globs")}
}

// names reports whether a changed pattern may name the caller of the
// cached decision under key (see Input.appendCacheKey). It errs towards
// true: a key it cannot read, a login with a domain under any of its "@"
// (the library splits on the only one), a SCIM group named like a login,
// a glob that matches the login, any tag or any group (the library tries
// "tag:" globs on tags only, others on the login only).
func (st *staleCallers) names(key string) bool {
	login, tags, groups, ok := callerOfKey(key)
	if !ok || st.logins[login] {
		return true
	}
	for i := range len(login) {
		if login[i] == '@' && st.domains[login[i+1:]] {
			return true
		}
	}
	for _, t := range tags {
		if st.tags[t] {
			return true
		}
	}
	for _, g := range groups {
		if st.groups[g] || st.logins[g] {
			return true
		}
	}
	for glob := range st.globs {
		if starMatch(glob, login) || slices.ContainsFunc(tags, func(t string) bool { return starMatch(glob, t) }) ||
			slices.ContainsFunc(groups, func(g string) bool { return starMatch(glob, g) }) {
			return true
		}
	}
	return false
}

// starMatch reports whether s matches pattern, where each "*" stands for
// any run of characters (none included) and every other character for
// itself: the library's star_match (rego/lib/sources.rego).
func starMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	first, last := parts[0], parts[len(parts)-1]
	if len(s) < len(first)+len(last) || !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
		return false
	}
	// The middle parts in order, each at its leftmost place, in what the
	// first and last parts leave: leftmost leaves the most for the rest.
	rest := s[len(first) : len(s)-len(last)]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(rest, p)
		if i < 0 {
			return false
		}
		rest = rest[i+len(p):]
	}
	return true
}

// callerOfKey reads the caller's login, tags and groups back from a cache
// key built by Input.appendCacheKey.
func callerOfKey(key string) (login string, tags, groups []string, ok bool) {
	r := keyReader{s: key}
	login = r.field()
	n := r.count()
	for range n {
		tags = append(tags, r.field())
	}
	for range 4 { // provider, model, format, upstream format
		r.field()
	}
	n = r.count()
	for range n {
		groups = append(groups, r.field())
	}
	return login, tags, groups, !r.bad
}

// keyReader reads the length-prefixed fields of a cache key.
type keyReader struct {
	s   string
	bad bool
}

func (r *keyReader) count() uint64 {
	n, w := binary.Uvarint([]byte(r.s[:min(len(r.s), binary.MaxVarintLen64)]))
	if w <= 0 || n > uint64(len(r.s)) {
		r.bad, r.s = true, ""
		return 0
	}
	r.s = r.s[w:]
	return n
}

func (r *keyReader) field() string {
	n := r.count()
	if r.bad || n > uint64(len(r.s)) {
		r.bad, r.s = true, ""
		return ""
	}
	f := r.s[:n]
	r.s = r.s[n:]
	return f
}
