package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/engine"
)

// randomPolicy writes a random configuration: a few providers sharing a
// pool of model names, and temp_grants or grants naming logins, domains,
// tags and everyone with random roles and model patterns.
func randomPolicy(r *rand.Rand) string {
	models := []string{"gpt-5", "gpt-5-mini", "claude-sonnet-4-5", "llama-3"}
	providers := []string{"openai", "anthropic", "local"}
	srcs := []string{"alice@a.com", "bob@a.com", "*@a.com", "*@b.org", "carol@b.org", "tag:ci", "tag:prod", "*"}
	roles := []string{"", "user", "admin"}
	pick := func(list []string) string { return list[r.IntN(len(list))] }
	var b strings.Builder
	b.WriteString(`{"providers": {`)
	for i, p := range providers {
		if i > 0 {
			b.WriteString(", ")
		}
		var ms []string
		for _, m := range models {
			if r.IntN(2) == 0 {
				ms = append(ms, `"`+m+`"`)
			}
		}
		if len(ms) == 0 {
			ms = append(ms, `"`+pick(models)+`"`)
		}
		fmt.Fprintf(&b, `"%s": {"baseurl": "https://%s.example", "apikey": "k", "models": [%s]}`, p, p, strings.Join(ms, ", "))
	}
	b.WriteString("},\n")
	grantsSection := r.IntN(2) == 0
	if grantsSection {
		b.WriteString(`"grants": [`)
	} else {
		b.WriteString(`"temp_grants": [`)
	}
	for i := range 1 + r.IntN(5) {
		if i > 0 {
			b.WriteString(",\n")
		}
		src := []string{`"` + pick(srcs) + `"`}
		if r.IntN(3) == 0 {
			src = append(src, `"`+pick(srcs)+`"`)
		}
		role := pick(roles)
		provider := pick(append(providers, "*"))
		model := pick(append(models, "*", "gpt-*", "claude-*"))
		if grantsSection {
			var caps []string
			if role != "" {
				caps = append(caps, `"role": "`+role+`"`)
			}
			glob := provider + "/" + model
			if provider == "*" && model == "*" {
				glob = "**"
			}
			caps = append(caps, `"models": ["`+glob+`"]`)
			fmt.Fprintf(&b, `{"src": [%s], "app": {"tailscale.com/cap/aperture": [{%s}]}}`, strings.Join(src, ", "), strings.Join(caps, ", "))
			continue
		}
		grants := []string{fmt.Sprintf(`{"providers": [{"provider": "%s", "model": "%s"}]}`, provider, model)}
		if role != "" {
			grants = append(grants, `{"role": "`+role+`"}`)
		}
		fmt.Fprintf(&b, `{"src": [%s], "grants": [%s]}`, strings.Join(src, ", "), strings.Join(grants, ", "))
	}
	b.WriteString("]}\n")
	return b.String()
}

// TestPolicyMatrixAgreesWithEval: for random configurations and random
// requests, what `sluice policy eval` decides is what the matrix says of
// the caller's class. Callers are the classes' representatives and other
// logins, which belong to their domain's class or to anyone else.
func TestPolicyMatrixAgreesWithEval(t *testing.T) {
	configs, requests := 25, 6
	if testing.Short() {
		configs = 5
	}
	for seed := range uint64(configs) {
		r := rand.New(rand.NewPCG(seed, 25))
		text := randomPolicy(r)
		path := writeFile(t, text)
		code, stdout, stderr := runPolicyCLI(t, "matrix", "--config", path, "--json")
		if code != 0 {
			t.Fatalf("seed %d: matrix exit %d: %s\n%s", seed, code, stderr, text)
		}
		var m engine.Matrix
		if err := json.Unmarshal([]byte(stdout), &m); err != nil {
			t.Fatal(err)
		}
		byClass := make(map[string]engine.MatrixClass)
		for _, c := range m.Classes {
			byClass[c.Class] = c
		}
		for range requests {
			pair := m.Models[r.IntN(len(m.Models))]
			provider, model, _ := strings.Cut(pair, "/")
			args := []string{"eval", "--config", path, "--provider", provider, "--model", model}
			var class engine.MatrixClass
			switch r.IntN(3) {
			case 0: // a class's own representative
				class = m.Classes[r.IntN(len(m.Classes))]
				if len(class.Caller.Tags) > 0 {
					args = append(args, "--tags", strings.Join(class.Caller.Tags, ","))
				} else {
					args = append(args, "--user", class.Caller.Login)
				}
			default: // someone the grants do not name by login
				login := []string{"dave@a.com", "erin@b.org", "frank@c.net"}[r.IntN(3)]
				_, domain, _ := strings.Cut(login, "@")
				var ok bool
				if class, ok = byClass["*@"+domain]; !ok {
					class = byClass[engine.AnyoneElse]
				}
				args = append(args, "--user", login)
			}
			code, stdout, stderr := runPolicyCLI(t, args...)
			if code != 0 {
				t.Fatalf("seed %d: eval %v: exit %d: %s", seed, args, code, stderr)
			}
			var x struct {
				Decision engine.Decision `json:"decision"`
			}
			if err := json.Unmarshal([]byte(stdout), &x); err != nil {
				t.Fatal(err)
			}
			inMatrix := slices.ContainsFunc(class.Allowed, func(c engine.MatrixCell) bool { return c.Provider == provider && c.Model == model })
			if x.Decision.Allow != inMatrix || x.Decision.Role != class.Role {
				t.Errorf("seed %d: eval %v: allow %v role %q; the matrix says class %q: allow %v role %q\n%s",
					seed, args[5:], x.Decision.Allow, x.Decision.Role, class.Class, inMatrix, class.Role, text)
			}
		}
	}
}
