package grants_admin_access_test

import data.sluice.authz

req(login, provider, model) := {
	"user": {"login": login, "node_id": "n1", "tailnet": "company.com", "tags": []},
	"request": {"provider": provider, "model": model, "format": "openai_chat", "path": "/v1/chat/completions"},
}

test_admin_by_login if {
	authz.role == "admin" with input as req("admin@company.com", "openai", "gpt-5")
	authz.admin with input as req("admin@company.com", "openai", "gpt-5")
	authz.metrics with input as req("admin@company.com", "openai", "gpt-5")
}

test_admin_by_tag if {
	authz.admin with input as {"user": {"login": "tag:ops", "tags": ["tag:ops"]}, "request": {"provider": "openai", "model": "gpt-5"}}
}

test_everyone_else_is_a_user_with_every_model if {
	authz.role == "user" with input as req("bob@company.com", "anthropic", "claude-sonnet-4-5")
	authz.allow with input as req("bob@company.com", "anthropic", "claude-sonnet-4-5")
	authz.allow with input as req("bob@company.com", "openai", "gpt-5-mini")
	not authz.metrics with input as req("bob@company.com", "openai", "gpt-5-mini")
}

test_allowed_by_names_the_grant if {
	authz.provider_grants == {"grants[1].app.tailscale.com/cap/aperture[1]"} with input as req("bob@company.com", "openai", "gpt-5")
}

test_unidentified_caller_has_nothing if {
	authz.role == "none" with input as req("", "openai", "gpt-5")
	not authz.allow with input as req("", "openai", "gpt-5")
}
