package grants_per_user_models_test

import data.sluice.authz

req(login, provider, model) := {
	"user": {"login": login, "node_id": "n1", "tailnet": "company.com", "tags": []},
	"request": {"provider": provider, "model": model, "format": "openai_chat", "path": "/v1/chat/completions"},
}

test_alice_gets_anthropic if {
	authz.allow with input as req("alice@company.com", "anthropic", "claude-opus-4-5")
	not authz.allow with input as req("alice@company.com", "openai", "gpt-4.1")
}

test_bob_gets_gpt4_only if {
	authz.allow with input as req("bob@company.com", "openai", "gpt-4.1")
	authz.allow with input as req("bob@company.com", "openai", "gpt-4o")
	not authz.allow with input as req("bob@company.com", "openai", "gpt-5")
	not authz.allow with input as req("bob@company.com", "anthropic", "claude-opus-4-5")
}

test_grants_add_up if {
	# Bob's own grant and the domain's.
	authz.allow with input as req("bob@company.com", "anthropic", "claude-sonnet-4-5")
}

test_star_stays_in_one_segment if {
	not authz.allow with input as {"user": {"login": "ci", "tags": ["tag:other"]}, "request": {"provider": "openrouter", "model": "meta/llama-4"}}
	authz.allow with input as {"user": {"login": "tag:ci", "tags": ["tag:ci"]}, "request": {"provider": "openrouter", "model": "meta/llama-4"}}
}

test_group_from_input if {
	authz.allow with input as {"user": {"login": "carol@else.org", "tags": [], "groups": ["group:research"]}, "request": {"provider": "openai", "model": "gpt-5"}}
	not authz.allow with input as {"user": {"login": "carol@else.org", "tags": [], "groups": []}, "request": {"provider": "openai", "model": "gpt-5"}}
}

test_role_without_model_is_not_granted if {
	authz.role == "user" with input as req("dave@else.org", "openai", "gpt-5")
	not authz.granted with input as req("dave@else.org", "openai", "gpt-5")
	authz.deny == {`dave@else.org may not use model "gpt-5" of provider "openai": no provider grant or models capability matches`} with input as req("dave@else.org", "openai", "gpt-5")
}
