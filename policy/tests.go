package policy

import (
	"strings"

	"github.com/tailscale/hujson"
)

// Assertion is one entry of the tests section: what the policy must decide
// for one caller. A configuration whose assertions do not hold is refused
// like an invalid one (the engine evaluates them with the compiled policy,
// the user's own modules included), so access changes come with proof.
type Assertion struct {
	Index int // position in tests
	// Src is the caller: a login, "tag:NAME" or a group ("group:NAME", or
	// a SCIM group by email when Groups says so). Empty when Tags name a
	// device tagged several times.
	Src string
	// Tags are the caller's device tags when "tags" lists several.
	Tags []string
	// Allow and Deny are "provider/model" globs (as in grants' models)
	// over the configured models: every pair an Allow glob matches must be
	// allowed, every pair a Deny glob matches refused.
	Allow []ModelCheck
	Deny  []ModelCheck
	// Role, when set, is the role the caller must have: "user", "admin"
	// or "none".
	Role    string
	RolePos Pos
	Pos     Pos
}

// ModelCheck is one glob of an assertion, with the configured pairs it
// covers.
type ModelCheck struct {
	Glob  string
	Pairs []ModelPair
	Path  string // JSON pointer, "/tests/0/allow/1"
	Pos   Pos
}

// ModelPair is one configured model of one provider.
type ModelPair struct {
	Provider string `json:"provider"`
	Model    string `json:"model"`
}

func (p ModelPair) String() string { return p.Provider + "/" + p.Model }

// Source names the assertion the way diagnostics do: "tests[i]".
func (a *Assertion) Source() string { return "tests[" + itoa(a.Index) + "]" }

// Caller describes the caller of the assertion for messages.
func (a *Assertion) Caller() string {
	switch {
	case len(a.Tags) > 0:
		return "device tagged " + strings.Join(a.Tags, ", ")
	case strings.HasPrefix(a.Src, "tag:"):
		return "device tagged " + a.Src
	case strings.HasPrefix(a.Src, "group:"):
		return "member of " + a.Src
	}
	return a.Src
}

// IsGroup reports whether the assertion's caller is a group.
func (a *Assertion) IsGroup() bool { return strings.HasPrefix(a.Src, "group:") }

// Codes of the tests section.
const (
	// CodeBadTest marks a malformed assertion.
	CodeBadTest = "bad_test"
	// CodeTestFailed marks an assertion the compiled policy does not
	// satisfy.
	CodeTestFailed = "test_failed"
)

// ModelPairs returns every configured provider/model pair in declaration
// order, disabled providers included (the policy refuses them, and an
// access matrix shows so).
func (c *Config) ModelPairs() []ModelPair {
	var out []ModelPair
	for _, p := range c.Providers {
		for _, m := range p.Models {
			out = append(out, ModelPair{Provider: p.ID, Model: m})
		}
	}
	return out
}

// MatchModel reports whether a "provider/model" glob of the grants
// section's models covers p: "*" stands for any run of characters within
// one "/"-separated segment, "**" for any number of segments.
func MatchModel(glob string, p ModelPair) bool {
	return matchSegments(strings.Split(glob, "/"), strings.Split(p.String(), "/"))
}

func matchSegments(pat, val []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(val); i++ {
				if matchSegments(pat[1:], val[i:]) {
					return true
				}
			}
			return false
		}
		if len(val) == 0 || !starMatch(pat[0], val[0]) {
			return false
		}
		pat, val = pat[1:], val[1:]
	}
	return len(val) == 0
}

// starMatch matches s against pattern, where "*" is any run of characters.
func starMatch(pattern, s string) bool {
	before, after, found := strings.Cut(pattern, "*")
	if !found {
		return pattern == s
	}
	if !strings.HasPrefix(s, before) {
		return false
	}
	s = s[len(before):]
	for i := 0; i <= len(s); i++ {
		if starMatch(after, s[i:]) {
			return true
		}
	}
	return false
}

// testGlob is an allow or deny glob awaiting the providers (decoded in any
// order) to be expanded.
type testGlob struct {
	check *ModelCheck
	v     *hujson.Value
	path  string
	test  string
}

// tests decodes the tests section. Unknown keys are errors: an assertion
// sluice would half-check proves nothing.
func (d *decoder) tests(c *Config, v *hujson.Value, path string) {
	c.Tests = []*Assertion{}
	d.array(v, path, func(i int, tv *hujson.Value, p string) {
		a := &Assertion{Index: i, Pos: d.pos(tv)}
		globs := func(fv *hujson.Value, fp string) []ModelCheck {
			var out []ModelCheck
			d.array(fv, fp, func(_ int, ev *hujson.Value, ep string) {
				out = append(out, ModelCheck{Glob: d.str(ev, ep), Path: ep, Pos: d.pos(ev)})
			})
			return out
		}
		var allowV, denyV *hujson.Value
		hasTags := false
		var allowP, denyP string
		if !d.members(tv, p, func(m *hujson.ObjectMember, key, fp string) {
			fv := &m.Value
			switch key {
			case "src":
				a.Src = d.str(fv, fp)
				if msg := checkTestSource(a.Src); msg != "" {
					d.errorAt(fv, fp, CodeBadTest, errorf("%s: %s", a.Source(), msg))
				}
			case "tags":
				hasTags = true
				d.array(fv, fp, func(_ int, ev *hujson.Value, ep string) {
					t := d.str(ev, ep)
					if !strings.HasPrefix(t, "tag:") || len(t) == len("tag:") || strings.ContainsAny(t, "* ") {
						d.errorAt(ev, ep, CodeBadTest, errorf("%s: tags: %q is not a device tag (want \"tag:name\")", a.Source(), t))
						return
					}
					a.Tags = append(a.Tags, t)
				})
			case "allow":
				a.Allow, allowV, allowP = globs(fv, fp), fv, fp
			case "deny":
				a.Deny, denyV, denyP = globs(fv, fp), fv, fp
			case "role":
				a.Role, a.RolePos = d.str(fv, fp), d.pos(fv)
				if a.Role != RoleUser && a.Role != RoleAdmin && a.Role != "none" {
					d.errorAt(fv, fp, CodeBadRole, errorf("%s: unknown role %q (want \"user\", \"admin\" or \"none\")", a.Source(), a.Role))
				}
			default:
				d.errorAt(&m.Name, fp, CodeUnknownField, errorf("%s: unknown field %q (an assertion has \"src\" or \"tags\", \"allow\", \"deny\" and \"role\")", a.Source(), key))
			}
		}) {
			return
		}
		switch {
		case a.Src == "" && !hasTags:
			d.errorAt(tv, p, CodeBadTest, errorf("%s names no caller (want \"src\": a login, \"tag:name\" or \"group:name\", or \"tags\")", a.Source()))
		case a.Src != "" && len(a.Tags) > 0 && !strings.HasPrefix(a.Src, "tag:"):
			d.errorAt(tv, p, CodeBadTest, errorf("%s has both \"src\" %q and \"tags\": a tagged device has no login; give one or the other", a.Source(), a.Src))
		}
		if strings.HasPrefix(a.Src, "tag:") && len(a.Tags) > 0 {
			// "src": "tag:a", "tags": ["tag:b"]: one device with both.
			a.Tags = append([]string{a.Src}, a.Tags...)
			a.Src = ""
		}
		if len(a.Allow) == 0 && len(a.Deny) == 0 && a.Role == "" {
			d.errorAt(tv, p, CodeBadTest, errorf("%s asserts nothing (give \"allow\", \"deny\" or \"role\")", a.Source()))
		}
		for j := range a.Allow {
			d.testGlobs = append(d.testGlobs, testGlob{check: &a.Allow[j], v: elem(allowV, j), path: index(allowP, j), test: a.Source()})
		}
		for j := range a.Deny {
			d.testGlobs = append(d.testGlobs, testGlob{check: &a.Deny[j], v: elem(denyV, j), path: index(denyP, j), test: a.Source()})
		}
		c.Tests = append(c.Tests, a)
	})
}

func elem(v *hujson.Value, i int) *hujson.Value {
	if arr, ok := v.Value.(*hujson.Array); ok && i < len(arr.Elements) {
		return &arr.Elements[i]
	}
	return v
}

// checkTestSource returns why src cannot name one caller, or "".
func checkTestSource(src string) string {
	switch {
	case strings.TrimSpace(src) == "":
		return `empty "src" (want a login, "tag:name" or "group:name")`
	case strings.Contains(src, "*"):
		return errorf("src %q is a pattern; an assertion names one caller (a login, \"tag:name\" or \"group:name\")", src)
	case strings.HasPrefix(src, "tag:"), strings.HasPrefix(src, "group:"):
		if strings.ContainsAny(src, " ") || strings.IndexByte(src, ':') == len(src)-1 {
			return errorf("invalid src %q (want \"tag:name\" or \"group:name\")", src)
		}
	}
	return ""
}

// validateTests expands each allow and deny glob over the configured
// models. A glob that covers none is an error: the assertion would hold
// vacuously, typically because of a typo.
func validateTests(c *Config, d *decoder) {
	pairs := c.ModelPairs()
	for _, g := range d.testGlobs {
		if msg := checkModelGlob(g.check.Glob); msg != "" {
			d.errorAt(g.v, g.path, CodeBadTest, errorf("%s: %s", g.test, msg))
			continue
		}
		for _, p := range pairs {
			if MatchModel(g.check.Glob, p) {
				g.check.Pairs = append(g.check.Pairs, p)
			}
		}
		if len(g.check.Pairs) == 0 && len(pairs) > 0 {
			d.errorAt(g.v, g.path, CodeBadTest, errorf("%s: %q matches no configured model (the configured ones are provider/model pairs such as %q)", g.test, g.check.Glob, pairs[0].String()))
		}
	}
}
