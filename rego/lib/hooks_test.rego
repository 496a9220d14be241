package sluice.authz_test

import data.sluice.authz

hook_grants := {
	"temp_grants[0].grants[0]": {"src": ["*"], "hook": {
		"hook": "oso",
		"fields": ["tools"],
		"match": {"providers": ["*"], "models": ["*"], "events": ["tool_call_entire_request"]},
	}},
	"temp_grants[1].grants[0]": {"src": ["dev@example.com"], "hook": {
		"hook": "audit",
		"fields": ["tools", "user_message"],
		"match": {"providers": ["anthropic", "openai"], "models": ["claude-*"], "events": ["entire_request"]},
		"condition": "response.status >= 400",
	}},
	"temp_grants[2].grants[0]": {"src": ["dev@example.com"], "hook": {
		"hook": "any",
		"fields": [],
		"match": {"providers": [], "models": [], "events": ["pre_request"]},
	}},
}

hook_index := index(hook_grants)

hooks_for(login, provider, model) := {h.hook: h | some h in hooks} if {
	hooks := authz.hooks with data.sluice.grants as hook_index
		with input as req(login, provider, model)
}

test_hook_for_everyone if {
	h := hooks_for("eve@example.com", "openai", "gpt-5")
	h == {"oso": {
		"hook": "oso",
		"fields": ["tools"],
		"events": ["tool_call_entire_request"],
		"providers": ["*"],
		"models": ["*"],
		"grant": "temp_grants[0].grants[0]",
	}}
}

test_hook_match_is_and_across_fields if {
	h := hooks_for("dev@example.com", "anthropic", "claude-opus-4-5")
	h.audit.condition == "response.status >= 400"
	h.audit.grant == "temp_grants[1].grants[0]"
	not hooks_for("dev@example.com", "anthropic", "gpt-5").audit
	not hooks_for("dev@example.com", "gemini", "claude-opus-4-5").audit
}

test_empty_match_fields_match_anything if {
	hooks_for("dev@example.com", "gemini", "gemini-2.5-pro").any.events == ["pre_request"]
}

test_no_condition_key_without_condition if {
	not hooks_for("dev@example.com", "openai", "gpt-5").oso.condition
}
