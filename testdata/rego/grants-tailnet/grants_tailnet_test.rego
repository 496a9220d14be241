package grants_tailnet_test

import data.sluice.authz

req(login, caps, provider, model) := {
	"user": {"login": login, "node_id": "n1", "tailnet": "company.com", "tags": [], "caps": caps},
	"request": {"provider": provider, "model": model, "format": "openai_chat", "path": "/v1/chat/completions"},
}

test_config_grant_alone if {
	authz.allow with input as req("bob@company.com", [], "openai", "gpt-5-mini")
	not authz.allow with input as req("bob@company.com", [], "anthropic", "claude-sonnet-4-5")
}

test_policy_file_adds_a_model if {
	r := req("alice@company.com", [{"models": "anthropic/**"}], "anthropic", "claude-sonnet-4-5")
	authz.allow with input as r
	authz.provider_grants == {"tailnet:caps[0]"} with input as r
}

test_policy_file_role_and_admin if {
	authz.admin with input as req("alice@company.com", [{"role": "admin"}], "openai", "gpt-5")
	authz.metrics with input as req("alice@company.com", [{"read_metrics": true}], "openai", "gpt-5")
}

test_policy_file_hooks_and_headers if {
	r := req("alice@company.com", [{"models": "openai/**", "send_hooks": [{"name": "audit", "send": ["tools"]}], "add_headers": ["X-Team: blue"]}], "openai", "gpt-5")
	authz.hooks == {{"hook": "audit", "fields": ["tools"], "events": ["tool_call_entire_request"], "providers": [], "models": [], "grant": "tailnet:caps[0]"}} with input as r
	authz.headers == {{"header": "X-Team: blue", "grant": "tailnet:caps[0]"}} with input as r
}

test_policy_file_quotas_refuse if {
	r := req("alice@company.com", [{"models": "**", "quotas": [{"bucket": "daily"}]}], "openai", "gpt-5")
	not authz.allow with input as r
	count(authz.quotas) == 1 with input as r
}

test_policy_file_unknown_key_refuses if {
	r := req("alice@company.com", [{"models": "**", "max_spend": 3}], "openai", "gpt-5-mini")
	not authz.allow with input as r
}

test_non_object_caps_grant_nothing if {
	not authz.allow with input as req("alice@company.com", ["**", null], "anthropic", "claude-sonnet-4-5")
}
