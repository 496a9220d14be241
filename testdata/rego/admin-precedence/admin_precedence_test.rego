package admin_precedence_test

import data.sluice.authz

req(login, provider, model) := {
	"user": {"login": login, "node_id": "n1", "tailnet": "company.com", "tags": []},
	"request": {"provider": provider, "model": model, "format": "openai_chat", "path": "/v1/chat/completions"},
}

test_admin_wins_over_the_user_grant_for_everyone if {
	authz.role == "admin" with input as req("admin@company.com", "openai", "gpt-5-mini")
	authz.admin with input as req("admin@company.com", "openai", "gpt-5-mini")
}

test_admin_wins_over_a_later_user_grant if {
	authz.role == "admin" with input as req("ops@company.com", "openai", "gpt-5-mini")
}

test_everyone_else_is_a_user if {
	authz.role == "user" with input as req("developer@company.com", "openai", "gpt-5-mini")
	not authz.admin with input as req("developer@company.com", "openai", "gpt-5-mini")
}

test_admin_role_grants_no_models if {
	# Being an admin gives the settings, not models: only the provider
	# grants count.
	authz.allow with input as req("admin@company.com", "openai", "gpt-5-mini")
	not authz.allow with input as req("admin@company.com", "openai", "gpt-5")
}

test_only_admins_read_metrics if {
	authz.read_metrics with input as req("admin@company.com", "", "")
	authz.read_metrics with input as req("ops@company.com", "", "")
	not authz.read_metrics with input as req("developer@company.com", "", "")
}
