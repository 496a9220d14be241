package engine

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/policy"
)

// hookConfig is a configuration with one hook grant for everyone, built
// from match and condition (HuJSON fragments).
func hookConfig(t testing.TB, match, condition string) *policy.Config {
	t.Helper()
	cond := ""
	if condition != "" {
		cond = `, "condition": ` + strconv.Quote(condition)
	}
	return parseConfig(t, `{
	"providers": {"openai": {"baseurl": "https://api.openai.com", "apikey": "k", "models": ["gpt-5"]}},
	"hooks": {"h": {"url": "https://hooks.example/h"}},
	"temp_grants": [
		{"src": ["*"], "grants": [
			{"role": "user"},
			{"providers": [{"provider": "*", "model": "*"}]},
			{"hook": {"match": `+match+`, "hook": "h", "fields": ["tools"]`+cond+`}},
		]},
	],
}`)
}

func vars(provider, model, event string) HookVars {
	v := syntheticVars
	v.Request.Provider, v.Request.Model, v.Event = provider, model, event
	return v
}

func TestHookFires(t *testing.T) {
	const tool = policy.EventToolCallEntireRequest
	const entire = policy.EventEntireRequest
	tests := []struct {
		name      string
		match     string
		condition string
		vars      HookVars
		want      bool
	}{
		{"all wildcards", `{"providers": ["*"], "models": ["*"], "events": ["tool_call_entire_request"]}`, "", vars("openai", "gpt-5", tool), true},
		{"other event", `{"providers": ["*"], "models": ["*"], "events": ["tool_call_entire_request"]}`, "", vars("openai", "gpt-5", entire), false},
		{"events OR", `{"events": ["tool_call_entire_request", "entire_request"]}`, "", vars("openai", "gpt-5", entire), true},
		{"provider listed", `{"providers": ["anthropic", "openai"]}`, "", vars("openai", "gpt-5", tool), true},
		{"provider not listed", `{"providers": ["anthropic", "gemini"]}`, "", vars("openai", "gpt-5", tool), false},
		{"model glob", `{"models": ["gpt-*"]}`, "", vars("openai", "gpt-5-mini", tool), true},
		{"model glob miss", `{"models": ["claude-*"]}`, "", vars("openai", "gpt-5", tool), false},
		{"model glob is not a regexp", `{"models": ["gpt.5*"]}`, "", vars("openai", "gpt-5", tool), false},
		{"AND across fields", `{"providers": ["openai"], "models": ["claude-*"]}`, "", vars("openai", "gpt-5", tool), false},
		{"empty match uses the default event", `{}`, "", vars("x", "y", tool), true},
		{"condition true", `{}`, `response.status >= 400`, withStatus(vars("openai", "gpt-5", tool), 500), true},
		{"condition false", `{}`, `response.status >= 400`, vars("openai", "gpt-5", tool), false},
		{"condition and match", `{"models": ["claude-*"]}`, `response.status >= 400`, withStatus(vars("openai", "gpt-5", tool), 500), false},
		{"condition on user", `{}`, `user.login.endsWith("@example.com") && "tag:ci" in user.tags`, vars("openai", "gpt-5", tool), true},
		{"condition on body", `{}`, `request.body.stream == true && request.body.messages.size() == 1`, vars("openai", "gpt-5", tool), true},
		{"condition on tools", `{}`, `response.tools.exists(t, t.name == "tool")`, vars("openai", "gpt-5", tool), true},
		{"condition on usage", `{}`, `response.usage.input_tokens + response.usage.output_tokens > 100`, vars("openai", "gpt-5", tool), false},
		{"condition on formats", `{}`, `request.upstream_format == request.format && request.format == "openai_chat"`, vars("openai", "gpt-5", tool), true},
		{"condition on a translated request", `{}`, `request.upstream_format != request.format`, translated(vars("openai", "gpt-5", tool)), true},
		{"condition on event", `{"events": ["entire_request", "tool_call_entire_request"]}`, `event == "entire_request"`, vars("openai", "gpt-5", entire), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, hookConfig(t, tt.match, tt.condition))
			d, err := e.Decide(context.Background(), in("user@example.com", tt.vars.Request.Provider, tt.vars.Request.Model))
			if err != nil {
				t.Fatal(err)
			}
			// Rego already leaves out grants whose providers or models do
			// not match; the program must agree with it on its own.
			prog := e.cur.Load().hooks["temp_grants[0].grants[2]"]
			got, err := HookGrant{prog: prog}.Fires(tt.vars)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Fires = %v, want %v (program %s)", got, tt.want, prog.expr)
			}
			if len(d.Hooks) == 1 {
				if viaDecision, _ := d.Hooks[0].Fires(tt.vars); viaDecision != got {
					t.Errorf("the decision's hook grant answers %v, its program %v", viaDecision, got)
				}
			}
		})
	}
}

func withStatus(v HookVars, s int) HookVars { v.Response.Status = s; return v }

func translated(v HookVars) HookVars {
	v.Request.UpstreamFormat = policy.FormatAnthropicMessages
	return v
}

func TestHookFiresRuntimeError(t *testing.T) {
	e := newEngine(t, hookConfig(t, `{}`, `request.body.missing == "x"`))
	prog := e.cur.Load().hooks["temp_grants[0].grants[2]"]
	fires, err := HookGrant{prog: prog}.Fires(syntheticVars)
	if err == nil || fires {
		t.Errorf("Fires = %v, %v; want false and an error", fires, err)
	}
	if err != nil && !strings.Contains(err.Error(), "temp_grants[0].grants[2]") {
		t.Errorf("error %q does not name the grant", err)
	}
}

func TestBadCondition(t *testing.T) {
	tests := []struct {
		name      string
		condition string
		want      string
	}{
		{"syntax", `response.status >=`, "Syntax error"},
		{"undeclared variable", `reponse.status == 200`, "undeclared reference to 'reponse'"},
		{"misspelled field", `request.modle == "gpt-5"`, "undefined field 'modle'"},
		{"not a bool", `response.status + 1`, "want bool"},
		{"wrong operand types", `user.login > 3`, "no matching overload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(context.Background(), hookConfig(t, `{}`, tt.condition))
			var diags policy.Errors
			if !errors.As(err, &diags) || len(diags) != 1 {
				t.Fatalf("error %v is not one policy diagnostic", err)
			}
			d := diags[0]
			if d.Code != policy.CodeBadCondition || d.Path != "/temp_grants/0/grants/2/hook/condition" {
				t.Errorf("code %q path %q", d.Code, d.Path)
			}
			if !strings.Contains(d.Message, "temp_grants[0].grants[2].condition") || !strings.Contains(d.Message, tt.want) {
				t.Errorf("message %q lacks the grant or %q", d.Message, tt.want)
			}
			if d.Pos.File != "config.hujson" || d.Pos.Line != 8 || d.Pos.Col < 60 {
				t.Errorf("position %s, want config.hujson:8 at the condition", d.Pos)
			}
		})
	}
}

func TestConditionCostLimit(t *testing.T) {
	list := make([]string, 200)
	for i := range list {
		list[i] = strconv.Itoa(i)
	}
	l := "[" + strings.Join(list, ",") + "]"
	cond := l + ".all(x, " + l + ".all(y, " + l + ".all(z, x + y + z >= 0)))"
	_, err := New(context.Background(), hookConfig(t, `{}`, cond))
	var diags policy.Errors
	if !errors.As(err, &diags) || !strings.Contains(diags.Error(), "cost limit") {
		t.Fatalf("a condition over the cost limit was accepted: %v", err)
	}
}

func TestMatchClauses(t *testing.T) {
	tests := []struct {
		name  string
		match policy.HookMatch
		want  string
	}{
		{"empty", policy.HookMatch{}, ""},
		{"wildcards", policy.HookMatch{Providers: []string{"*"}, Models: []string{"a", "*"}}, ""},
		{"one provider", policy.HookMatch{Providers: []string{"openai"}}, `request.provider == "openai"`},
		{"providers", policy.HookMatch{Providers: []string{"openai", "anthropic"}}, `request.provider in ["openai", "anthropic"]`},
		{"glob and exact", policy.HookMatch{Models: []string{"gpt-5", "claude-*"}}, `(request.model == "gpt-5" || request.model.matches("^claude-.*$"))`},
		{"quoted", policy.HookMatch{Models: []string{`a"b.c*`}}, `request.model.matches("^a\"b\\.c.*$")`},
		{"events", policy.HookMatch{Events: []string{"entire_request"}}, `event == "entire_request"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := strings.Join(matchClauses(tt.match), " && "); got != tt.want {
				t.Errorf("got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// FuzzCondition compiles arbitrary conditions: none may panic, and one that
// compiles must evaluate to a bool or an error.
func FuzzCondition(f *testing.F) {
	for _, s := range []string{
		`response.status >= 400`,
		`request.body.messages.exists(m, m.role == "user")`,
		`user.login.endsWith("@example.com")`,
		`response.tools.size() > 0 && event == "tool_call_entire_request"`,
		`request.body`,
		`[1,2,3].map(x, x * 2).size() == 3`,
	} {
		f.Add(s)
	}
	env, err := newCELEnv()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, cond string) {
		g := &policy.Grant{Hook: &policy.HookGrant{Hook: "h", Condition: cond, Match: policy.HookMatch{Events: []string{policy.EventEntireRequest}}}}
		p, d := compileHook(env, g)
		if d != nil {
			if d.Code != policy.CodeBadCondition {
				t.Fatalf("diagnostic code %q", d.Code)
			}
			return
		}
		v := syntheticVars
		v.Event = policy.EventEntireRequest
		_, _ = p.eval(&v)
	})
}
