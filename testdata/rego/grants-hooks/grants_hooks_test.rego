package grants_hooks_test

import data.sluice.authz

req(login, provider, model) := {
	"user": {"login": login, "node_id": "n1", "tailnet": "company.com", "tags": []},
	"request": {"provider": provider, "model": model, "format": "openai_chat", "path": "/v1/chat/completions"},
}

hook_names(r) := names if {
	hooks := authz.hooks with input as r
	names := {h.hook | some h in hooks}
}

test_guard_only_on_anthropic if {
	"guard" in hook_names(req("alice@company.com", "anthropic", "claude-sonnet-4-5"))
	not "guard" in hook_names(req("alice@company.com", "openai", "gpt-5"))
}

test_audit_wired_twice if {
	audits := {h | some h in authz.hooks; h.hook == "audit"} with input as req("alice@company.com", "openai", "gpt-5")
	count(audits) == 2
	{e | some h in audits; some e in h.events} == {"entire_request", "tool_call_entire_request"}
	{f | some h in audits; some f in h.fields} == {"user_message", "grants", "tools"}
}

test_outsiders_get_the_audit_only if {
	hook_names(req("eve@else.org", "anthropic", "claude-sonnet-4-5")) == {"audit"}
}

test_custom_capabilities_reach_hooks if {
	authz.app_grants == {{"name": "company.com/cap/policy", "value": {"data_class": "internal"}, "grant": "grants[0]"}} with input as req("eve@else.org", "openai", "gpt-5")
}

test_hooks_do_not_change_access if {
	authz.allow with input as req("eve@else.org", "openai", "gpt-5")
}
