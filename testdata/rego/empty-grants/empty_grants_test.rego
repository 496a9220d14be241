package empty_grants_test

import data.sluice.authz

req(login, provider, model) := {
	"user": {"login": login, "node_id": "n1", "tailnet": "example.com", "tags": ["tag:ci"]},
	"request": {"provider": provider, "model": model, "format": "openai_chat", "path": "/v1/chat/completions"},
}

test_everyone_denied if {
	every login in ["example-user@example.com", "admin@company.com", ""] {
		not authz.allow with input as req(login, "openai", "gpt-5")
		authz.role == "none" with input as req(login, "openai", "gpt-5")
		count(authz.deny) == 1 with input as req(login, "openai", "gpt-5")
	}
}

test_no_grants_compiled if {
	not data.sluice.grants.everyone
	data.sluice.grants.index.logins == {}
}
