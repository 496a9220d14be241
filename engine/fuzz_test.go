package engine

import (
	"context"
	"testing"
)

// FuzzDecide checks decisions on the two-user restriction example against
// what the reference says it means, for arbitrary callers and requests, and
// checks that a cached answer equals the evaluated one.
func FuzzDecide(f *testing.F) {
	f.Add("developer@company.com", "openai", "gpt-5", "")
	f.Add("developer@company.com", "anthropic", "claude-sonnet-4-5", "tag:ci")
	f.Add("developer@company.com", "openai", "gpt-5-mini", "")
	f.Add("admin@company.com", "gemini", "anything", "")
	f.Add("", "*", "*", "tag:admin")
	f.Add("*", "openai", "gpt-5", "")
	f.Add("developer@company.com\x00", "openai", "gpt-5", "")
	cfg := loadCase(f, "restrict-users")
	e := newEngine(f, cfg)
	f.Fuzz(func(t *testing.T, login, provider, model, tag string) {
		x := in(login, provider, model)
		if tag != "" {
			x.User.Tags = []string{tag}
		}
		wantRole, wantAllow := RoleNone, false
		switch login {
		case "developer@company.com":
			wantRole = RoleUser
			wantAllow = (provider == "openai" && model == "gpt-5") || (provider == "anthropic" && model == "claude-sonnet-4-5")
		case "admin@company.com":
			wantRole, wantAllow = RoleAdmin, true
		}
		for range 2 { // evaluated, then cached
			d, err := e.Decide(context.Background(), x)
			if err != nil {
				t.Fatal(err)
			}
			if d.Role != wantRole || d.Allow != wantAllow || (len(d.Reasons) == 0) != wantAllow {
				t.Fatalf("%q %q %q %q: role %q allow %v reasons %q; want role %q allow %v", login, provider, model, tag, d.Role, d.Allow, d.Reasons, wantRole, wantAllow)
			}
		}
	})
}
