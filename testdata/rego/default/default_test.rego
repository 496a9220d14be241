# The built-in default configuration (no --config): every user is an admin
# and may use every model; the example Oso hook applies to nobody.
package default_test

import data.sluice.authz

req(login, provider, model) := {
	"user": {"login": login, "node_id": "n1", "tailnet": "example.com", "tags": []},
	"request": {"provider": provider, "model": model, "format": "openai_chat", "upstream_format": "openai_chat", "path": "/v1/chat/completions"},
}

test_everyone_is_admin if {
	authz.role == "admin" with input as req("someone@example.com", "openai", "gpt-5")
	authz.role == "admin" with input as req("example-user@example.com", "openai", "gpt-5")
}

test_every_model_allowed if {
	authz.allow with input as req("someone@example.com", "openai", "gpt-5")
	authz.allow with input as req("someone@example.com", "anthropic", "claude-opus-4-5")
}

# A request translated to another upstream format is decided like any
# other: the stock policy does not look at upstream_format.
test_translated_request_allowed if {
	translated := object.union(req("someone@example.com", "anthropic", "claude-opus-4-5"), {"request": {"upstream_format": "anthropic_messages"}})
	authz.allow with input as translated
}

test_no_hooks if {
	count(authz.hooks) == 0 with input as req("someone@example.com", "openai", "gpt-5")
}
