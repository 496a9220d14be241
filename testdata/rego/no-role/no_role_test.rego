package no_role_test

import data.sluice.authz

req(login, provider, model) := {
	"user": {"login": login, "node_id": "n1", "tailnet": "example.com", "tags": []},
	"request": {"provider": provider, "model": model, "format": "openai_chat", "path": "/v1/chat/completions"},
}

test_provider_grant_alone_allows_nothing if {
	authz.role == "none" with input as req("someone@example.com", "openai", "gpt-5")
	not authz.allow with input as req("someone@example.com", "openai", "gpt-5")
}

test_reason_says_no_role if {
	authz.deny == {"someone@example.com has no access: no role grant in temp_grants names them (access is denied by default)"} with input as req("someone@example.com", "openai", "gpt-5")
}
