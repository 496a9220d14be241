package engine

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-gateway/sluice/policy"
)

// assertionCaller is the caller an assertion of the tests section is
// about. A group's member is a caller the grants name by nothing else, as
// in the access matrix.
func assertionCaller(a *policy.Assertion) User {
	switch {
	case len(a.Tags) > 0:
		return taggedCaller(a.Tags...).user()
	case strings.HasPrefix(a.Src, "tag:"):
		return taggedCaller(a.Src).user()
	case a.IsGroup():
		return User{Login: anonymousLogin, Groups: []string{a.Src}}
	}
	return User{Login: a.Src}
}

// checkTests evaluates the configuration's assertions with this revision.
// Each one that fails is a diagnostic at its place saying what was
// expected, what the policy decided and why; they are returned together as
// policy.Errors, so a configuration that fails them is refused like an
// invalid one.
func (r *revision) checkTests(ctx context.Context, now time.Time) error {
	var errs policy.Errors
	for _, a := range r.cfg.Tests {
		caller := assertionCaller(a)
		fail := func(path string, pos policy.Pos, msg string) {
			errs = append(errs, policy.Diagnostic{Code: policy.CodeTestFailed, Path: path, Pos: pos,
				Message: fmt.Sprintf("%s: %s: %s", a.Source(), a.Caller(), msg)})
		}
		if a.Role != "" {
			x, err := r.explainInput(ctx, Input{User: caller}, now)
			if err != nil {
				return fmt.Errorf("%s: %w", a.Source(), err)
			}
			if x.Decision.Role != a.Role {
				fail("/tests/"+strconv.Itoa(a.Index)+"/role", a.RolePos,
					fmt.Sprintf("expected role %q, but the policy gives role %q (%s)", a.Role, x.Decision.Role, r.roleWhy(x)))
			}
		}
		for _, want := range []struct {
			allow  bool
			checks []policy.ModelCheck
		}{{true, a.Allow}, {false, a.Deny}} {
			for _, c := range want.checks {
				var wrong []string
				var why string
				for _, p := range c.Pairs {
					x, err := r.explainInput(ctx, Input{User: caller, Request: Request{Provider: p.Provider, Model: p.Model}}, now)
					if err != nil {
						return fmt.Errorf("%s: %w", a.Source(), err)
					}
					if x.Decision.Allow == want.allow {
						continue
					}
					if wrong = append(wrong, p.String()); len(wrong) == 1 {
						why = r.decisionWhy(x)
					}
				}
				if len(wrong) == 0 {
					continue
				}
				expected, decided, key := "allowed", "refuses", "allow"
				if !want.allow {
					expected, decided, key = "refused", "allows", "deny"
				}
				glob := ""
				if len(c.Pairs) > 1 || c.Glob != c.Pairs[0].String() {
					glob = fmt.Sprintf(" (%s %q)", key, c.Glob)
				}
				fail(c.Path, c.Pos, fmt.Sprintf("expected %s to be %s%s, but the policy %s %s: %s",
					listPairs(wrong), expected, glob, decided, pronoun(len(wrong)), why))
			}
		}
	}
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b policy.Diagnostic) int {
			return cmp.Or(cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
		})
		return errs
	}
	return nil
}

// decisionWhy says why a decision came out as it did: the deny reasons of a
// refusal, the grants of an allowance.
func (r *revision) decisionWhy(x Explanation) string {
	if !x.Decision.Allow {
		reasons := make([]string, 0, len(x.Denials))
		for _, d := range x.Denials {
			reason := d.Reason
			if d.Rule != "" && !strings.HasPrefix(d.Rule, "sluice/") {
				reason += " (deny rule at " + d.Rule + ")"
			}
			reasons = append(reasons, reason)
		}
		if len(reasons) == 0 {
			reasons = x.Decision.Reasons
		}
		return strings.Join(reasons, "; ")
	}
	grants := make([]string, 0, len(x.AllowedBy))
	for _, a := range x.AllowedBy {
		g := a.Grant
		if a.Pos != "" {
			g += " at " + a.Pos
		}
		grants = append(grants, g)
	}
	if len(grants) == 0 {
		return "allowed by a rule of your own modules"
	}
	return "allowed by " + strings.Join(grants, ", ")
}

// roleWhy names the role grants that name the caller.
func (r *revision) roleWhy(x Explanation) string {
	var from []string
	for _, g := range x.Grants {
		if g.Role != "" {
			s := g.Role + " from " + g.Grant
			if g.Pos != "" {
				s += " at " + g.Pos
			}
			from = append(from, s)
		}
	}
	if len(from) == 0 {
		return "no role grant names the caller"
	}
	return strings.Join(from, ", ")
}

func listPairs(pairs []string) string {
	const shown = 3
	if len(pairs) <= shown {
		return strings.Join(pairs, ", ")
	}
	return strings.Join(pairs[:shown], ", ") + fmt.Sprintf(" and %d more", len(pairs)-shown)
}

func pronoun(n int) string {
	if n == 1 {
		return "it"
	}
	return "them (the first one)"
}
