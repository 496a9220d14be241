# Tests of the capability rules (grants section and tailnet policy file).
# They mock data.sluice.grants with a hand-written index.
package sluice.authz_test

import data.sluice.authz

empty_entry := {"grants": [], "roles": [], "providers": [], "hooks": [], "hook_match": [], "mcp": [], "caps": [], "app": []}

cap_req(login, provider, model) := {"user": {"login": login, "tags": []}, "request": {"provider": provider, "model": model}}

cap_mock := {
	"everyone": object.union(empty_entry, {"grants": ["grants[0]"], "caps": [{"role": "user", "grant": "c0"}]}),
	"index": {
		"logins": {"alice@example.com": object.union(empty_entry, {
			"grants": ["grants[1]"],
			"caps": [
				{"models": ["anthropic/**"], "grant": "c1"},
				{"models": ["openai/gpt-4*"], "add_headers": ["X-Project: alpha"], "grant": "c2"},
				{"read_metrics": true, "grant": "c3"},
				{"set_cors": true, "cors_paths": ["/v1/*"], "Access-Control-Allow-Origin": "https://app.example", "grant": "c4"},
			],
			"app": [{"name": "example.com/cap/x", "value": {"tier": 1}, "grant": "grants[1]"}],
		})},
		"domains": {},
		"tags": {},
		"groups": {"group:eng": object.union(empty_entry, {"grants": ["grants[2]"], "caps": [{"models": "*/claude-sonnet*", "grant": "c5"}]})},
		"globs": {},
	},
}

test_double_star_any_segments if {
	authz.allow with data.sluice.grants as cap_mock with input as cap_req("alice@example.com", "anthropic", "claude-opus-4-5")
	authz.allow with data.sluice.grants as cap_mock with input as cap_req("alice@example.com", "anthropic", "x/y")
}

test_single_star_one_segment if {
	authz.allow with data.sluice.grants as cap_mock with input as cap_req("alice@example.com", "openai", "gpt-4.1")
	not authz.allow with data.sluice.grants as cap_mock with input as cap_req("alice@example.com", "openai", "gpt-4/x")
}

test_no_model_is_not_granted if {
	authz.role == "user" with data.sluice.grants as cap_mock with input as cap_req("bob@example.com", "openai", "gpt-5")
	not authz.granted with data.sluice.grants as cap_mock with input as cap_req("bob@example.com", "openai", "gpt-5")
}

test_models_without_role_give_nothing if {
	m := object.union(cap_mock, {"everyone": empty_entry})
	not authz.allow with data.sluice.grants as m with input as cap_req("alice@example.com", "anthropic", "claude")
	authz.role == "none" with data.sluice.grants as m with input as cap_req("alice@example.com", "anthropic", "claude")
}

test_headers_follow_their_models if {
	authz.headers == {{"header": "X-Project: alpha", "grant": "c2"}} with data.sluice.grants as cap_mock with input as cap_req("alice@example.com", "openai", "gpt-4o")
	count(authz.headers) == 0 with data.sluice.grants as cap_mock with input as cap_req("alice@example.com", "anthropic", "claude")
}

test_metrics if {
	authz.metrics with data.sluice.grants as cap_mock with input as cap_req("alice@example.com", "", "")
	not authz.metrics with data.sluice.grants as cap_mock with input as cap_req("bob@example.com", "", "")
	authz.metrics with data.sluice.grants as cap_mock with input as {"user": {"login": "bob@example.com", "caps": [{"role": "admin"}]}, "request": {}}
}

test_cors if {
	authz.cors == {{"paths": ["/v1/*"], "origin": "https://app.example", "methods": "", "headers": "", "grant": "c4"}} with data.sluice.grants as cap_mock with input as cap_req("alice@example.com", "", "")
}

test_groups if {
	authz.allow with data.sluice.grants as cap_mock with input as {"user": {"login": "carol@example.com", "groups": ["group:eng"]}, "request": {"provider": "x", "model": "claude-sonnet-4-5"}}
}

test_app_grants if {
	authz.app_grants == {{"name": "example.com/cap/x", "value": {"tier": 1}, "grant": "grants[1]"}} with data.sluice.grants as cap_mock with input as cap_req("alice@example.com", "", "")
}

test_tailnet_caps_union if {
	r := {"user": {"login": "bob@example.com", "caps": [{"models": "openai/gpt-5"}]}, "request": {"provider": "openai", "model": "gpt-5"}}
	authz.allow with data.sluice.grants as cap_mock with input as r
	authz.provider_grants == {"tailnet:caps[0]"} with data.sluice.grants as cap_mock with input as r
}

test_unknown_key_refuses if {
	r := {"user": {"login": "alice@example.com", "caps": [{"future": true}]}, "request": {"provider": "anthropic", "model": "claude"}}
	not authz.allow with data.sluice.grants as cap_mock with input as r
}
