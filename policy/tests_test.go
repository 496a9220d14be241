package policy

import (
	"errors"
	"strings"
	"testing"
)

func TestTestsSection(t *testing.T) {
	const head = `{"providers": {"openai": {"baseurl": "https://api.openai.com", "apikey": "k", "models": ["gpt-5", "gpt-5-mini"]}},
"tests": [`
	tests := []struct {
		name string
		body string
		// want is "line:col: message part" of the one error, or "" when
		// the section loads.
		want string
	}{
		{"login", `{"src": "alice@example.com", "allow": ["openai/*"], "role": "user"}`, ""},
		{"tags", `{"tags": ["tag:ci", "tag:prod"], "deny": ["**"]}`, ""},
		{"pattern src", `{"src": "*@example.com", "deny": ["**"]}`, `2:19: tests[0]: src "*@example.com" is a pattern`},
		{"unknown field", `{"src": "a@b.c", "deny": ["**"], "dst": ["x"]}`, `2:44: tests[0]: unknown field "dst"`},
		{"glob covers nothing", `{"src": "a@b.c", "allow": ["openai/gpt-4o"]}`, `2:38: tests[0]: "openai/gpt-4o" matches no configured model`},
		{"malformed glob", `{"src": "a@b.c", "deny": ["gpt-5"]}`, `2:37: tests[0]: pattern "gpt-5" has no provider part`},
		{"asserts nothing", `{"src": "a@b.c"}`, `2:11: tests[0] asserts nothing`},
		{"no caller", `{"deny": ["**"]}`, `2:11: tests[0] names no caller`},
		{"login and tags", `{"src": "a@b.c", "tags": ["tag:ci"], "deny": ["**"]}`, `2:11: tests[0] has both "src" "a@b.c" and "tags"`},
		{"bad tag", `{"tags": ["ci"], "deny": ["**"]}`, `2:21: tests[0]: tags: "ci" is not a device tag`},
		{"bad role", `{"src": "a@b.c", "role": "owner"}`, `2:36: tests[0]: unknown role "owner"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("t.hujson", []byte(head+tt.body+"]}"), nil)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(cfg.Tests) != 1 {
					t.Fatalf("%d assertions, want 1", len(cfg.Tests))
				}
				return
			}
			var errs Errors
			if !errors.As(err, &errs) || len(errs) != 1 {
				t.Fatalf("err = %v, want one error", err)
			}
			if got := errs[0].String(); !strings.Contains(got, "t.hujson:"+tt.want) {
				t.Errorf("error = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMatchModel(t *testing.T) {
	tests := []struct {
		glob, pair string
		want       bool
	}{
		{"openai/gpt-5", "openai/gpt-5", true},
		{"openai/gpt-5", "openai/gpt-5-mini", false},
		{"openai/gpt-5*", "openai/gpt-5-mini", true},
		{"openai/*", "openrouter/meta/llama", false},
		{"openrouter/**", "openrouter/meta/llama", true},
		{"**", "openai/gpt-5", true},
		{"*/gpt-5", "azure/gpt-5", true},
		{"*-ai/*", "open-ai/x", true},
	}
	for _, tt := range tests {
		provider, model, _ := strings.Cut(tt.pair, "/")
		if got := MatchModel(tt.glob, ModelPair{provider, model}); got != tt.want {
			t.Errorf("MatchModel(%q, %q) = %v, want %v", tt.glob, tt.pair, got, tt.want)
		}
	}
}
