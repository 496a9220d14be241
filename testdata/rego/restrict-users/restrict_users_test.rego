package restrict_users_test

import data.sluice.authz

req(login, provider, model) := {
	"user": {"login": login, "node_id": "n1", "tailnet": "company.com", "tags": []},
	"request": {"provider": provider, "model": model, "format": "openai_chat", "path": "/v1/chat/completions"},
}

test_developer_uses_the_two_granted_models if {
	authz.allow with input as req("developer@company.com", "openai", "gpt-5")
	authz.allow with input as req("developer@company.com", "anthropic", "claude-sonnet-4-5")
}

test_developer_denied_other_models if {
	not authz.allow with input as req("developer@company.com", "openai", "gpt-5-mini")
	not authz.allow with input as req("developer@company.com", "anthropic", "claude-opus-4-5")
	not authz.allow with input as req("developer@company.com", "gemini", "gemini-2.5-pro")
}

test_developer_denied_a_granted_model_through_another_provider if {
	not authz.allow with input as req("developer@company.com", "anthropic", "gpt-5")
}

test_denial_names_model_and_provider if {
	authz.deny == {`developer@company.com may not use model "gpt-5-mini" of provider "openai": no provider grant in temp_grants matches`} with input as req("developer@company.com", "openai", "gpt-5-mini")
}

test_developer_is_a_user if {
	authz.role == "user" with input as req("developer@company.com", "openai", "gpt-5")
	not authz.admin with input as req("developer@company.com", "openai", "gpt-5")
}

test_admin_uses_everything if {
	authz.admin with input as req("admin@company.com", "gemini", "gemini-2.5-pro")
	authz.allow with input as req("admin@company.com", "gemini", "gemini-2.5-pro")
	authz.allow with input as req("admin@company.com", "openai", "gpt-5-mini")
}

test_anyone_else_has_no_access if {
	authz.role == "none" with input as req("intern@company.com", "openai", "gpt-5")
	not authz.allow with input as req("intern@company.com", "openai", "gpt-5")
	count(authz.deny) == 1 with input as req("intern@company.com", "openai", "gpt-5")
}
