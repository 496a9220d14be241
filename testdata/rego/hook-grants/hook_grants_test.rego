package hook_grants_test

import data.sluice.authz

req(login, provider, model) := {
	"user": {"login": login, "node_id": "n1", "tailnet": "company.com", "tags": []},
	"request": {"provider": provider, "model": model, "format": "openai_chat", "path": "/v1/chat/completions"},
}

hooks(login, provider, model) := {h.grant: h | some h in hs} if {
	hs := authz.hooks with input as req(login, provider, model)
}

test_oso_sees_everyones_tool_calls if {
	h := hooks("someone@example.com", "gemini", "gemini-2.5-pro")
	h == {"temp_grants[0].grants[2]": {
		"hook": "oso",
		"fields": ["user_message", "tools", "request_body", "response_body"],
		"events": ["tool_call_entire_request"],
		"providers": ["*"],
		"models": ["*"],
		"grant": "temp_grants[0].grants[2]",
	}}
}

test_developer_webhook_on_anthropic_and_openai if {
	h := hooks("developer@company.com", "openai", "gpt-5")
	h["temp_grants[1].grants[0]"].hook == "my-webhook"
	h["temp_grants[1].grants[0]"].fields == ["tools", "user_message"]
	not h["temp_grants[1].grants[1]"] # claude-* only
}

test_developer_webhook_not_on_gemini if {
	h := hooks("developer@company.com", "gemini", "gemini-2.5-pro")
	object.keys(h) == {"temp_grants[0].grants[2]"}
}

test_condition_travels_with_the_hook if {
	h := hooks("developer@company.com", "anthropic", "claude-opus-4-5")
	h["temp_grants[1].grants[1]"].condition == "response.status >= 400 || response.usage.output_tokens > 10000"
	h["temp_grants[1].grants[1]"].events == ["entire_request"]
	h["temp_grants[1].grants[1]"].providers == []
}

test_hooks_do_not_change_access if {
	authz.allow with input as req("developer@company.com", "anthropic", "claude-opus-4-5")
}
