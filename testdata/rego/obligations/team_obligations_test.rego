# A team's own module, loaded next to the exported policy, and its tests.
# Interns get short answers from the small model, through the guard hook,
# captured in full, and their prompts never reach the audit hook;
# contractors are served by azure only.
package sluice.authz

interns := {"intern@company.com", "temp@company.com"}

obligations contains {"action": "cap_max_tokens", "max_tokens": 256, "grant": "interns"} if {
	input.user.login in interns
}

obligations contains {"action": "cap_max_tokens", "max_tokens": 64, "grant": "temps"} if {
	input.user.login == "temp@company.com"
}

obligations contains {"action": "force_model", "model": "gpt-5-mini", "grant": "interns"} if {
	input.user.login in interns
	startswith(input.request.model, "gpt-")
}

obligations contains {"action": "require_hook", "hook": "guard", "fields": ["user_message"], "grant": "interns"} if {
	input.user.login in interns
}

obligations contains {"action": "redact_hook_fields", "fields": ["request_body"], "grant": "interns"} if {
	input.user.login in interns
}

obligations contains {"action": "full_capture", "grant": "interns"} if {
	input.user.login in interns
}

obligations contains {"action": "force_provider", "provider": "azure", "grant": "contractors"} if {
	endswith(input.user.login, "@contractor.example")
}

obligations contains {"action": "force_model", "model": "claude-sonnet-4-5", "grant": "contractors"} if {
	input.user.login == "mixed@contractor.example"
}

req(login, provider, model) := {"user": {"login": login}, "request": {"provider": provider, "model": model}}

test_grants_produce_obligations if {
	o := obligations with input as req("dev@company.com", "anthropic", "claude-sonnet-4-5")
	{"action": "add_header", "header": "X-Team: eng", "grant": "grants[0].app.tailscale.com/cap/aperture[1]"} in o
	{"action": "charge_quota", "bucket": "team", "grant": "grants[0].app.tailscale.com/cap/aperture[1]"} in o
	some h in o
	h.action == "send_hook"
	h.hook == "audit"
	allow with input as req("dev@company.com", "anthropic", "claude-sonnet-4-5")
}

test_no_team_obligations_for_others if {
	not max_tokens_cap with input as req("dev@company.com", "openai", "gpt-5")
	count(force_models) == 0 with input as req("dev@company.com", "openai", "gpt-5")
	not full_capture with input as req("dev@company.com", "openai", "gpt-5")
}

test_cap_max_tokens if {
	max_tokens_cap == 256 with input as req("intern@company.com", "openai", "gpt-5-mini")
}

test_smallest_cap_wins if {
	max_tokens_cap == 64 with input as req("temp@company.com", "openai", "gpt-5-mini")
}

test_force_model if {
	force_models == {"gpt-5-mini"} with input as req("intern@company.com", "openai", "gpt-5")
	allow with input as req("intern@company.com", "openai", "gpt-5")
	count(force_models) == 0 with input as req("intern@company.com", "anthropic", "claude-sonnet-4-5")
}

test_force_provider if {
	force_providers == {"azure"} with input as req("bob@contractor.example", "openai", "gpt-5")
}

test_conflicting_forced_models_deny if {
	count(deny) == 0 with input as req("mixed@contractor.example", "openai", "gpt-5")
	d := deny with input as req("mixed@contractor.example", "openai", "gpt-5") with interns as {"mixed@contractor.example"}
	"policy forces different models (claude-sonnet-4-5, gpt-5-mini); the request is refused rather than pick one" in d
	not allow with input as req("mixed@contractor.example", "openai", "gpt-5") with interns as {"mixed@contractor.example"}
}

test_required_hook_and_redaction if {
	required_hooks == {"guard"} with input as req("intern@company.com", "anthropic", "claude-sonnet-4-5")
	redacted_hook_fields == {"request_body"} with input as req("intern@company.com", "anthropic", "claude-sonnet-4-5")
	full_capture with input as req("intern@company.com", "anthropic", "claude-sonnet-4-5")
}

test_unknown_action_denies if {
	d := deny with input as req("dev@company.com", "openai", "gpt-5") with obligations as {{"action": "teleport"}}
	count(d) == 1
	not allow with input as req("dev@company.com", "openai", "gpt-5") with obligations as {{"action": "teleport"}}
}

test_malformed_cap_denies if {
	not allow with input as req("dev@company.com", "openai", "gpt-5") with obligations as {{"action": "cap_max_tokens", "max_tokens": "lots"}}
	not allow with input as req("dev@company.com", "openai", "gpt-5") with obligations as {{"action": "cap_max_tokens", "max_tokens": 0}}
}

test_unknown_redacted_field_denies if {
	not allow with input as req("dev@company.com", "openai", "gpt-5") with obligations as {{"action": "redact_hook_fields", "fields": ["secrets"]}}
}

# A decision whose only obligations are well-formed send_hook ones skips
# the obligation checks; anything else beside them is still checked.
test_send_hooks_alone_allow if {
	allow with input as req("dev@company.com", "openai", "gpt-5") with obligations as {{"action": "send_hook", "hook": "audit"}}
}

test_send_hook_without_a_name_denies if {
	not allow with input as req("dev@company.com", "openai", "gpt-5") with obligations as {{"action": "send_hook"}}
	not allow with input as req("dev@company.com", "openai", "gpt-5") with hooks as {{"hook": 5}}
	not allow with input as req("dev@company.com", "openai", "gpt-5") with hooks as {{"hook": 5}} with obligations as {{"action": "send_hook", "hook": 5}}
	not allow with input as req("dev@company.com", "openai", "gpt-5") with hooks as {"audit"}
}

test_checks_run_beside_a_send_hook if {
	r := req("dev@company.com", "openai", "gpt-5")
	hook := object.union({"action": "send_hook"}, {"hook": "audit", "grant": "x"})
	not allow with input as r with obligations as {hook, {"action": "teleport"}}
	not allow with input as r with obligations as {hook, {"action": "force_model", "model": "a"}, {"action": "force_model", "model": "b"}}
	not allow with input as r with obligations as {hook, {"action": "redact_hook_fields", "fields": ["secrets"]}}
}
