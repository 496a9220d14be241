package engine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluice-gateway/sluice/rego"
)

func TestExplain(t *testing.T) {
	e := newEngine(t, loadCase(t, "sources"), WithModules(rego.Module{Name: "block.rego", Text: []byte(denyModule)}))
	tests := []struct {
		name        string
		in          Input
		wantSources []string
		wantGrants  []string // grant, kind, src, applies
		wantDenials []string // rule prefix: reason
	}{
		{
			name:        "domain user, granted",
			in:          in("alice@company.com", "anthropic", "claude-opus-4-5"),
			wantSources: []string{"*@company.com"},
			wantGrants: []string{
				"temp_grants[0].grants[0] role [*@company.com] true",
				"temp_grants[0].grants[1] providers [*@company.com] true",
			},
		},
		{
			name:        "tagged device, model of another grant and blocked",
			in:          in("alice@company.com", "openai", "gpt-5", "tag:ci"),
			wantSources: []string{"*@company.com", "tag:ci"},
			wantGrants: []string{
				"temp_grants[0].grants[0] role [*@company.com] true",
				"temp_grants[0].grants[1] providers [*@company.com] false",
				"temp_grants[1].grants[0] role [tag:ci] true",
				"temp_grants[1].grants[1] providers [tag:ci] false",
			},
			wantDenials: []string{
				denyRule(t, 1) + `: alice@company.com may not use model "gpt-5" of provider "openai": no provider grant in temp_grants matches`,
				"block.rego:3:1: alice@company.com: gpt-5 is blocked this week",
			},
		},
		{
			name:        "stranger",
			in:          in("eve@example.net", "openai", "gpt-5-mini"),
			wantSources: nil,
			wantDenials: []string{denyRule(t, 0) + ": eve@example.net has no access: no role grant in temp_grants names them (access is denied by default)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, err := e.Explain(context.Background(), tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(x.Sources, " "); got != strings.Join(tt.wantSources, " ") {
				t.Errorf("sources %q, want %q", got, strings.Join(tt.wantSources, " "))
			}
			var grants []string
			for _, g := range x.Grants {
				grants = append(grants, fmt.Sprintf("%s %s %v %v", g.Grant, g.Kind, g.Src, g.Applies))
				if g.Pos == "" {
					t.Errorf("%s has no position", g.Grant)
				}
			}
			if got, want := strings.Join(grants, "\n"), strings.Join(tt.wantGrants, "\n"); got != want {
				t.Errorf("grants:\n%s\nwant:\n%s", got, want)
			}
			var denials []string
			for _, d := range x.Denials {
				denials = append(denials, d.Rule+": "+d.Reason)
			}
			if got, want := strings.Join(denials, "\n"), strings.Join(tt.wantDenials, "\n"); got != want {
				t.Errorf("denials:\n%s\nwant:\n%s", got, want)
			}
			d, err := e.Decide(context.Background(), tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != x.Decision.Allow || len(d.Reasons) != len(x.Denials) {
				t.Errorf("Explain's decision %+v disagrees with Decide's %+v", x.Decision, d)
			}
		})
	}
}

// denyRule returns the place of the library's n-th deny rule.
func denyRule(t *testing.T, n int) string {
	t.Helper()
	for _, m := range rego.Library() {
		if m.Name != "sluice/authz.rego" {
			continue
		}
		for i, line := range strings.Split(string(m.Text), "\n") {
			if strings.HasPrefix(line, "deny contains") {
				if n == 0 {
					return fmt.Sprintf("%s:%d:1", m.Name, i+1)
				}
				n--
			}
		}
	}
	t.Fatal("no such deny rule in the library")
	return ""
}

func TestDecisionLog(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	n := 0
	e := newEngine(t, loadCase(t, "hook-grants"), WithDecisionLog(&buf),
		WithClock(func() time.Time { return clock }),
		WithDecisionIDs(func() string { n++; return fmt.Sprintf("id-%d", n) }))
	ctx := context.Background()
	var ids []string
	for _, x := range []Input{
		in("developer@company.com", "anthropic", "claude-opus-4-5"),
		in("developer@company.com", "anthropic", "claude-opus-4-5"),
		in("", "openai", "gpt-5"),
	} {
		d, err := e.Decide(ctx, x)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.ID)
	}
	sc := bufio.NewScanner(&buf)
	var events []map[string]any
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		events = append(events, ev)
	}
	if len(events) != 3 {
		t.Fatalf("%d events, want 3", len(events))
	}
	for i, ev := range events {
		if ev["decision_id"] != ids[i] || ev["revision"] != e.Revision() || ev["path"] != "sluice/authz" || ev["timestamp"] != "2026-03-04T05:06:07Z" {
			t.Errorf("event %d: %v", i, ev)
		}
		metrics, _ := ev["metrics"].(map[string]any)
		if _, ok := metrics["timer_sluice_decide_ns"]; !ok {
			t.Errorf("event %d lacks timer_sluice_decide_ns: %v", i, metrics)
		}
		_, evalTimer := metrics["timer_rego_query_eval_ns"]
		_, hit := metrics["counter_sluice_decision_cache_hit"]
		if wantHit := i == 1; hit != wantHit || evalTimer == wantHit {
			t.Errorf("event %d: cache hit %v, eval timer %v; want hit %v", i, hit, evalTimer, wantHit)
		}
	}
	first := events[0]
	input := first["input"].(map[string]any)
	if input["user"].(map[string]any)["login"] != "developer@company.com" || input["request"].(map[string]any)["model"] != "claude-opus-4-5" {
		t.Errorf("input %v", input)
	}
	result := first["result"].(map[string]any)
	if result["allow"] != true || result["role"] != "user" || len(result["hooks"].([]any)) != 3 {
		t.Errorf("result %v", result)
	}
	denied := events[2]["result"].(map[string]any)
	if denied["allow"] != false || len(denied["deny"].([]any)) != 1 {
		t.Errorf("denied result %v", denied)
	}
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestDecisionIDs(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		id := newDecisionID()
		if !uuidRE.MatchString(id) {
			t.Fatalf("%q is not a version 4 UUID", id)
		}
		if seen[id] {
			t.Fatalf("%q repeated", id)
		}
		seen[id] = true
	}
}

// TestModules: the running revision's modules are laid out as an export
// lays them out (generated grants, library, the user's modules under
// rego.UserDir), and follow updates.
func TestModules(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "team"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeModule(t, dir, "team/block.rego", denyModule)
	e := newEngine(t, loadCase(t, "restrict-users"), WithModulesDir(dir))
	var names []string
	for _, m := range e.Modules() {
		names = append(names, m.Name)
	}
	want := []string{"sluice/grants.rego"}
	for _, m := range rego.Library() {
		want = append(want, m.Name)
	}
	want = append(want, rego.UserDir+"/team/block.rego")
	if d := cmp.Diff(want, names); d != "" {
		t.Errorf("module names (-want +got):\n%s", d)
	}
	if got := e.Modules()[len(names)-1].Text; string(got) != denyModule {
		t.Errorf("user module text %q", got)
	}
	first := string(e.Modules()[0].Text)
	if err := e.Update(context.Background(), loadCase(t, "allow-all")); err != nil {
		t.Fatal(err)
	}
	if string(e.Modules()[0].Text) == first {
		t.Error("the generated grants did not follow the update")
	}
}

// TestExplainRoute: without a provider, the providers serving the model
// are tried in order, as routing does; a model nobody serves is
// ErrNoProvider.
func TestExplainRoute(t *testing.T) {
	e := newEngine(t, loadCase(t, "restrict-users"))
	for _, tt := range []struct {
		name  string
		in    Input
		err   error
		cands bool
	}{
		{"named provider", in("admin@company.com", "openai", "gpt-5"), nil, false},
		{"routed", in("admin@company.com", "", "gpt-5"), nil, true},
		{"unknown model", in("admin@company.com", "", "no-such-model"), ErrNoProvider, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			x, cands, err := e.ExplainRoute(context.Background(), tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if (len(cands) > 0) != tt.cands {
				t.Errorf("candidates %q", cands)
			}
			if err == nil && x.Input.Request.Provider == "" {
				t.Error("the explanation names no provider")
			}
		})
	}
}
