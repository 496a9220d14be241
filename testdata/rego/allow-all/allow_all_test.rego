package allow_all_test

import data.sluice.authz

req(login, provider, model) := {
	"user": {"login": login, "node_id": "n1", "tailnet": "company.com", "tags": []},
	"request": {"provider": provider, "model": model, "format": "openai_chat", "path": "/v1/chat/completions"},
}

test_everyone_uses_every_model if {
	every login in ["developer@company.com", "someone@elsewhere.example"] {
		every pair in [["openai", "gpt-5"], ["anthropic", "claude-opus-4-5"], ["gemini", "gemini-2.5-pro"]] {
			authz.allow with input as req(login, pair[0], pair[1])
		}
	}
}

test_everyone_is_a_user_not_an_admin if {
	authz.role == "user" with input as req("developer@company.com", "openai", "gpt-5")
	not authz.admin with input as req("developer@company.com", "openai", "gpt-5")
}

test_no_reasons_when_allowed if {
	count(authz.deny) == 0 with input as req("developer@company.com", "openai", "gpt-5")
}

test_no_hooks if {
	count(authz.hooks) == 0 with input as req("developer@company.com", "openai", "gpt-5")
}
