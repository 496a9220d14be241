package disabled_provider_test

import data.sluice.authz

req(provider) := {
	"user": {"login": "alice@example.com", "node_id": "n1", "tailnet": "example.com", "tags": []},
	"request": {"provider": provider, "model": "gpt-5", "format": "openai_chat", "path": "/v1/chat/completions"},
}

test_enabled_provider_allowed if {
	authz.allow with input as req("openai")
}

test_disabled_provider_denied_despite_wildcard_grant if {
	not authz.allow with input as req("old")
	authz.deny == {`provider "old" is disabled in the configuration`} with input as req("old")
}

test_admin_role_unchanged if {
	authz.role == "admin" with input as req("old")
}
