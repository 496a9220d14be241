package sluice.authz_test

import data.sluice.authz

sources_grants := {
	"temp_grants[0].grants[0]": {"src": ["*@example.com"], "role": "user"},
	"temp_grants[1].grants[0]": {"src": ["tag:ci"], "role": "user"},
	"temp_grants[2].grants[0]": {"src": ["tag:build-*", "*@*.corp.example"], "role": "admin"},
	"temp_grants[3].grants[0]": {"src": ["bob@example.org"], "role": "user"},
}

sources_index := index(sources_grants)

caller_role(login, tags) := r if {
	r := authz.role with data.sluice.grants as sources_index
		with input as {"user": {"login": login, "tags": tags}, "request": {}}
}

test_domain_glob if {
	caller_role("alice@example.com", []) == "user"
	caller_role("alice@example.org", []) == "none"
	caller_role("alice@sub.example.com", []) == "none"
	caller_role("example.com", []) == "none"
}

test_exact_login if {
	caller_role("bob@example.org", []) == "user"
	caller_role("Bob@example.org", []) == "none"
}

test_tags if {
	caller_role("tagged-devices", ["tag:ci"]) == "user"
	caller_role("tagged-devices", ["ci"]) == "none"
	caller_role("tagged-devices", ["tag:cd"]) == "none"
	caller_role("", ["tag:ci"]) == "user"
}

test_login_is_never_a_pattern if {
	caller_role("tag:ci", []) == "none"
	caller_role("*", []) == "none"
	caller_role("*@example.com", []) == "none"
}

test_glob_sources if {
	caller_role("tagged-devices", ["tag:build-linux"]) == "admin"
	caller_role("tagged-devices", ["tag:build"]) == "none"
	caller_role("carol@eu.corp.example", []) == "admin"
	caller_role("carol@corp.example", []) == "none"
}

test_matched_names_the_source if {
	m := authz.matched with data.sluice.grants as sources_index
		with input as {"user": {"login": "alice@example.com", "tags": ["tag:ci"]}}
	m == {
		{"grant": "temp_grants[0].grants[0]", "src": "*@example.com"},
		{"grant": "temp_grants[1].grants[0]", "src": "tag:ci"},
	}
}

test_everyone_means_every_identified_caller if {
	idx := index({"temp_grants[0].grants[0]": {"src": ["*"], "role": "user"}})
	authz.role == "user" with data.sluice.grants as idx
		with input as {"user": {"login": "someone@example.com", "tags": []}}
	authz.role == "user" with data.sluice.grants as idx
		with input as {"user": {"login": "", "tags": ["tag:ci"]}}
	authz.role == "user" with data.sluice.grants as idx
		with input as {"user": {"login": "ci@example.com", "tags": ["tag:ci"]}}
	authz.sources == {"*"} with data.sluice.grants as idx
		with input as {"user": {"login": "ci@example.com", "tags": ["tag:ci"]}}
	authz.role == "user" with data.sluice.grants as idx
		with input as {"user": {"tags": ["tag:ci"]}}
	authz.role == "none" with data.sluice.grants as idx
		with input as {"user": {"login": "", "tags": []}}
	authz.role == "none" with data.sluice.grants as idx
		with input as {"user": {}}
}
