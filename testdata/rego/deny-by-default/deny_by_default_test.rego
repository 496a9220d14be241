package deny_by_default_test

import data.sluice.authz

req(login, provider, model) := {
	"user": {"login": login, "node_id": "n1", "tailnet": "example.com", "tags": []},
	"request": {"provider": provider, "model": model, "format": "openai_chat", "path": "/v1/chat/completions"},
}

test_no_model_without_a_provider_grant if {
	not authz.allow with input as req("example-user@example.com", "openai", "gpt-5")
	not authz.allow with input as req("someone@example.com", "anthropic", "claude-sonnet-4-5")
}

test_roles_remain if {
	authz.role == "admin" with input as req("someone@example.com", "openai", "gpt-5")
}

test_reason_given if {
	authz.deny == {`someone@example.com may not use model "gpt-5" of provider "openai": no provider grant in temp_grants matches`} with input as req("someone@example.com", "openai", "gpt-5")
}
