package quotas_test

import data.sluice.authz

req(login, provider, model) := {
	"user": {"login": login, "node_id": "n1", "tailnet": "company.com", "tags": []},
	"request": {"provider": provider, "model": model, "format": "openai_chat", "path": "/v1/chat/completions"},
}

buckets(r) := names if {
	qs := authz.quotas with input as r
	names := {q.bucket | some q in qs}
}

test_team_and_user_buckets_on_anthropic if {
	buckets(req("alice@company.com", "anthropic", "claude-sonnet-4-5")) == {"org", "team-eng", "daily:<user>"}
}

test_capability_models_scope_its_buckets if {
	buckets(req("alice@company.com", "openai", "gpt-5")) == {"org"}
}

test_temp_grant_charges_everyone if {
	buckets(req("eve@else.org", "anthropic", "claude-sonnet-4-5")) == {"org"}
}

test_quotas_name_their_grant if {
	{"bucket": "org", "grant": "temp_grants[0].grants[2]"} in authz.quotas with input as req("eve@else.org", "openai", "gpt-5")
	{"bucket": "team-eng", "grant": "grants[0].app.tailscale.com/cap/aperture[0]"} in authz.quotas with input as req("alice@company.com", "anthropic", "claude-sonnet-4-5")
}

test_undefined_policy_file_bucket_refuses if {
	r := object.union(req("alice@company.com", "openai", "gpt-5"), {"user": {"caps": [{"quotas": [{"bucket": "nope"}]}]}})
	"nope" in buckets(r)
	not authz.allow with input as r
	some msg in authz.deny with input as r
	contains(msg, `quota bucket "nope", which the quotas section does not define`)
}

test_malformed_policy_file_quota_refuses if {
	r := object.union(req("alice@company.com", "openai", "gpt-5"), {"user": {"caps": [{"quotas": ["org"]}]}})
	not authz.allow with input as r
}

test_policy_file_quotas_not_a_list_refuse if {
	r := object.union(req("alice@company.com", "openai", "gpt-5"), {"user": {"caps": [{"quotas": "org"}]}})
	not authz.allow with input as r
}

test_charged_requests_are_allowed if {
	authz.allow with input as req("alice@company.com", "anthropic", "claude-sonnet-4-5")
}
