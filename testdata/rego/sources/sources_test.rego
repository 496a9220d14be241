package sources_test

import data.sluice.authz

req(login, tags, provider, model) := {
	"user": {"login": login, "node_id": "n1", "tailnet": "company.com", "tags": tags},
	"request": {"provider": provider, "model": model, "format": "openai_chat", "path": "/v1/chat/completions"},
}

test_domain if {
	authz.allow with input as req("alice@company.com", [], "anthropic", "claude-opus-4-5")
	not authz.allow with input as req("alice@company.com", [], "openai", "gpt-5-mini")
	authz.role == "none" with input as req("alice@company.org", [], "anthropic", "claude-opus-4-5")
}

test_subdomain_glob if {
	authz.allow with input as req("bob@eu.company.com", [], "gemini", "gemini-2.5-flash")
	not authz.allow with input as req("bob@eu.company.com", [], "anthropic", "claude-opus-4-5")
	not authz.allow with input as req("alice@company.com", [], "gemini", "gemini-2.5-flash")
}

test_tagged_devices if {
	authz.allow with input as req("tagged-devices", ["tag:ci"], "openai", "gpt-5-mini")
	authz.allow with input as req("tagged-devices", ["tag:build-arm64"], "openai", "gpt-5-mini")
	not authz.allow with input as req("tagged-devices", ["tag:ci"], "openai", "gpt-5")
	not authz.allow with input as req("tagged-devices", ["tag:prod"], "openai", "gpt-5-mini")
}

test_exact_login if {
	authz.allow with input as req("contractor@example.org", [], "openai", "gpt-4.1")
	not authz.allow with input as req("contractor@example.org", [], "openai", "gpt-5")
	not authz.allow with input as req("other@example.org", [], "openai", "gpt-4.1")
}

test_grants_add_up if {
	# A CI device of a company user gets both sets of models.
	authz.allow with input as req("alice@company.com", ["tag:ci"], "openai", "gpt-5-mini")
	authz.allow with input as req("alice@company.com", ["tag:ci"], "anthropic", "claude-haiku-4-5")
}
